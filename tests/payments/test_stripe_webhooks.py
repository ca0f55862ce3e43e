"""The webhook: signatures on the raw body, each event once, any order, late replays."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests

from tests.payments.conftest import (
    API_KEY,
    DISPUTE_CARD,
    WEBHOOK_SECRET,
    Buyer,
    Emulated,
    events_recorded,
    order_now,
    receipts,
)

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def signed(body: bytes, timestamp: int | None = None, secret: str = WEBHOOK_SECRET) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def stored_event(emulated: Emulated, event_type: str) -> dict[str, Any]:
    response = emulated.web.get(f"{emulated.base_url}/v1/events", params={"type": event_type},
                                headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    event: dict[str, Any] = response.json()["data"][0]
    return event


def post_event(store_server, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    with requests.Session() as web:
        web.trust_env = False
        return web.post(f"{store_server.base_url}/payments/stripe/webhook", data=body, headers=headers, timeout=10)


@pytest.fixture
def paid_without_webhooks(pack, buyer: Buyer, emulated: Emulated):
    """``(order_id, checkout.session.completed event)``: paid at Stripe, but no event reached the store."""
    emulated.control("webhooks/fail", {"count": 1000, "status": 0})
    checkout = buyer.buy(pack.slug, "12.00")
    assert emulated.pay(checkout.session_id)["paid"]
    emulated.wait()
    assert order_now(checkout.order_id).status == "pending" and events_recorded() == []
    return checkout.order_id, stored_event(emulated, "checkout.session.completed")


def test_a_genuine_event_pays_the_order(app, store_server, paid_without_webhooks):
    order_id, event = paid_without_webhooks
    body = json.dumps(event).encode()
    response = post_event(store_server, body, signed(body))
    assert response.status_code == 200 and response.json() == {"received": True, "duplicate": False}
    assert order_now(order_id).status == "paid" and len(receipts(app)) == 1
    [recorded] = events_recorded()
    assert (recorded.event_id, recorded.type, recorded.order_id) == (event["id"], event["type"], order_id)
    assert recorded.processed_at is not None


@pytest.mark.parametrize("tamper", ["wrong secret", "changed body", "stale timestamp", "missing header",
                                    "malformed header"])
def test_a_bad_signature_is_a_400_and_writes_nothing(app, store_server, paid_without_webhooks, tamper: str):
    order_id, event = paid_without_webhooks
    body = json.dumps(event).encode()
    signature: str | None = signed(body)
    if tamper == "wrong secret":
        signature = signed(body, secret="whsec_forged")
    elif tamper == "changed body":
        body = json.dumps({**event, "id": "evt_forged"}).encode()
    elif tamper == "stale timestamp":
        signature = signed(body, timestamp=int(time.time()) - 600)
    elif tamper == "missing header":
        signature = None
    else:
        signature = "v1=abc"
    response = post_event(store_server, body, signature)
    assert response.status_code == 400
    assert events_recorded() == []
    assert order_now(order_id).status == "pending" and receipts(app) == []


def test_a_duplicated_event_is_acted_on_once(app, pack, buyer: Buyer, emulated: Emulated):
    emulated.control("webhooks/duplicate", {"count": 10})
    checkout = buyer.buy(pack.slug, "12.00")
    paid = emulated.pay(checkout.session_id)
    emulated.wait()
    completed = [d for d in emulated.deliveries() if d["type"] == "checkout.session.completed"]
    assert len(completed) == 2 and len({d["event_id"] for d in completed}) == 1
    assert all(d["status"] == 200 for d in completed)
    recorded = events_recorded()
    assert len(recorded) == len({e.event_id for e in recorded})
    assert buyer.come_back(paid["redirect"]).status_code == 303
    assert order_now(checkout.order_id).status == "paid" and len(receipts(app)) == 1


def test_payment_events_out_of_order_end_in_one_paid_order(app, pack, buyer: Buyer, emulated: Emulated):
    # payment_intent.created, charge.succeeded, payment_intent.succeeded, checkout.session.completed:
    # held, then delivered newest first.
    emulated.control("webhooks/reorder", {"count": 4})
    checkout = buyer.buy(pack.slug, "12.00")
    emulated.pay(checkout.session_id)
    emulated.wait()
    types = [d["type"] for d in emulated.deliveries()]
    assert types[0] == "checkout.session.completed" and types[-1] == "payment_intent.created"
    assert order_now(checkout.order_id).status == "paid" and len(receipts(app)) == 1


def test_dispute_events_out_of_order_end_in_the_dispute_s_outcome(app, pack, buyer: Buyer, emulated: Emulated):
    # The payment's four events, charge.dispute.created, .funds_withdrawn, .closed and
    # .funds_reinstated, all held and then delivered newest first: the dispute closes (won)
    # before it was opened, and both before the order was paid.
    emulated.control("webhooks/reorder", {"count": 8})
    checkout = buyer.buy(pack.slug, "12.00")
    emulated.pay(checkout.session_id, DISPUTE_CARD)
    dispute = emulated.client.v1.disputes.list(params={"charge": emulated.charge_of(checkout.session_id)}).data[0]
    emulated.control(f"disputes/{dispute.id}/close", {"outcome": "won"})
    emulated.wait()
    types = [d["type"] for d in emulated.deliveries()]
    assert types[:4] == ["charge.dispute.funds_reinstated", "charge.dispute.closed",
                         "charge.dispute.funds_withdrawn", "charge.dispute.created"]
    order = order_now(checkout.order_id)
    assert (order.status, order.dispute_status) == ("paid", "won")
    assert len(receipts(app)) == 1


def test_an_event_replayed_a_day_later_changes_nothing(app, store_server, pack, buyer: Buyer, emulated: Emulated):
    checkout = buyer.buy(pack.slug, "12.00")
    paid = emulated.pay(checkout.session_id)
    emulated.wait()
    assert buyer.come_back(paid["redirect"]).status_code == 303
    assert order_now(checkout.order_id).status == "paid" and len(receipts(app)) == 1
    emulated.advance(24 * 3600)
    # Stripe retries for three days: the same event, signed with the (day later) time of sending.
    event = stored_event(emulated, "checkout.session.completed")
    body = json.dumps(event, indent=2).encode()
    response = post_event(store_server, body, signed(body, timestamp=emulated.now()))
    assert response.status_code == 200 and response.json()["duplicate"] is True
    assert order_now(checkout.order_id).status == "paid" and len(receipts(app)) == 1
    assert [e.event_id for e in events_recorded()].count(event["id"]) == 1


def test_an_event_the_store_could_not_act_on_is_retried(app, pack, buyer: Buyer, emulated: Emulated, monkeypatch):
    """Stripe unreachable while handling: 500, the event stays unprocessed, and its retry pays."""
    import stripe

    from shop.payments import stripe_events

    real = stripe_events.fulfil_session
    calls = {"n": 0}

    def flaky(session):
        calls["n"] += 1
        if calls["n"] == 1:
            raise stripe.APIConnectionError("Stripe is down")
        return real(session)

    monkeypatch.setattr(stripe_events, "fulfil_session", flaky)
    checkout = buyer.buy(pack.slug, "12.00")
    emulated.pay(checkout.session_id)
    emulated.wait()
    completed = [d for d in emulated.deliveries() if d["type"] == "checkout.session.completed"]
    assert [d["status"] for d in completed] == [500, 200]
    assert order_now(checkout.order_id).status == "paid" and len(receipts(app)) == 1


def test_the_webhook_is_exempt_from_csrf_and_absent_without_a_secret(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/payments/stripe/webhook", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    assert response.status_code == 400 and response.json == {"error": "bad signature"}
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    assert client.post("/payments/stripe/webhook", data=b"{}").status_code == 404
