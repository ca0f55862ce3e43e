"""Webhooks: endpoints, Stripe-Signature, every event type, retries and the delivery controls."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import requests
import stripe

from emulator_common import ServerThread
from stripe_emulator import Emulator, create_app

from .conftest import Control, Idle, NewSession, PaidSession, Pay, Receiver, fast_settings

WEBHOOK_FIELDS = set("""api_version application created description enabled_events id livemode
metadata object status url""".split())
EVENT_FIELDS = {"api_version", "created", "data", "id", "livemode", "object", "pending_webhooks",
                "request", "type"}


def verified(item: Any, secret: str) -> stripe.Event:
    return stripe.Webhook.construct_event(item.body.decode(), item.headers["Stripe-Signature"],
                                          secret)


def test_endpoint_lifecycle_and_secret_shown_once(client: stripe.StripeClient,
                                                  receiver: Receiver) -> None:
    created = client.v1.webhook_endpoints.create(params={
        "url": receiver.url, "enabled_events": ["checkout.session.completed", "charge.refunded"],
        "description": "store", "metadata": {"env": "dev"}})
    assert created.id.startswith("we_") and created.status == "enabled"
    assert created.secret.startswith("whsec_") and len(created.secret) > 30
    fetched = client.v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in fetched
    body = client.deserialize(client.raw_request("get", f"/v1/webhook_endpoints/{created.id}"),
                              api_mode="V1")
    assert set(body.to_dict()) == WEBHOOK_FIELDS
    assert [e.id for e in client.v1.webhook_endpoints.list().data] == [created.id]
    assert "secret" not in client.v1.webhook_endpoints.list().data[0]
    disabled = client.v1.webhook_endpoints.update(created.id, params={"disabled": True})
    assert disabled.status == "disabled"
    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    assert client.v1.webhook_endpoints.list().data == []


@pytest.mark.parametrize(("params", "param"), [
    ({"enabled_events": ["*"]}, "url"),
    ({"url": "ftp://x", "enabled_events": ["*"]}, "url"),
    ({"url": "http://x.test/hook"}, "enabled_events"),
    ({"url": "http://x.test/hook", "enabled_events": ["Not An Event"]}, "enabled_events[0]"),
])
def test_endpoint_param_errors(client: stripe.StripeClient, params: dict, param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.webhook_endpoints.create(params=params)  # type: ignore[arg-type]
    assert caught.value.param == param


def test_payment_events_are_signed_and_verify(client: stripe.StripeClient,
                                              endpoint: stripe.WebhookEndpoint,
                                              receiver: Receiver, paid_session: PaidSession,
                                              idle: Idle) -> None:
    session = paid_session()
    idle()
    received = receiver.wait_for(4)
    assert [r.event["type"] for r in received] == [
        "payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
        "checkout.session.completed"]
    for item in received:
        assert item.headers["Content-Type"] == "application/json; charset=utf-8"
        assert item.headers["User-Agent"].startswith("Stripe/1.0")
        event = verified(item, endpoint.secret)
        assert set(item.event) == EVENT_FIELDS
        assert event.livemode is False and event.id.startswith("evt_")
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(item.body.decode(), item.headers["Stripe-Signature"],
                                           "whsec_wrong")
        stored = client.v1.events.retrieve(event.id)
        assert stored.type == event.type and stored.pending_webhooks == 0
    completed = verified(received[-1], endpoint.secret)
    assert completed.data.object.id == session.id
    assert completed.data.object.payment_status == "paid"
    assert completed.data.object.metadata["order_id"] == "42"
    timestamp = int(received[0].headers["Stripe-Signature"].split(",")[0][2:])
    assert abs(timestamp - time.time()) < 5


def test_tampered_payload_is_rejected(endpoint: stripe.WebhookEndpoint, receiver: Receiver,
                                      paid_session: PaidSession) -> None:
    paid_session()
    item = receiver.wait_for(1)[0]
    tampered = item.body.decode().replace('"livemode": false', '"livemode": true', 1)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, item.headers["Stripe-Signature"],
                                       endpoint.secret)


def test_every_event_type_is_emitted_fetchable_and_delivered(client: stripe.StripeClient,
                                                             endpoint: stripe.WebhookEndpoint,
                                                             receiver: Receiver,
                                                             new_session: NewSession, pay: Pay,
                                                             control: Control, idle: Idle) -> None:
    declined = new_session()
    pay(declined, "4000000000000002")
    client.v1.checkout.sessions.expire(declined.id)
    paid = new_session()
    pay(paid, "4242424242424242")
    intent = client.v1.checkout.sessions.retrieve(paid.id).payment_intent
    refund = client.v1.refunds.create(params={"payment_intent": intent, "amount": 100})
    client.v1.refunds.update(refund.id, params={"metadata": {"why": "late"}})
    disputed = new_session()
    pay(disputed, "4000000000000259")
    dispute = client.v1.disputes.list().data[0]
    control("POST", f"/disputes/{dispute.id}/close", {"outcome": "lost"})
    idle()
    expected = {"payment_intent.created", "charge.failed", "payment_intent.payment_failed",
                "payment_intent.canceled", "checkout.session.expired", "charge.succeeded",
                "payment_intent.succeeded", "checkout.session.completed", "refund.created",
                "charge.refunded", "refund.updated", "charge.dispute.created",
                "charge.dispute.funds_withdrawn", "charge.dispute.closed"}
    assert set(receiver.types()) == expected
    events = list(client.v1.events.list(params={"limit": 100}).auto_paging_iter())
    assert {e.type for e in events} == expected
    assert len(events) == len(receiver.received)
    by_type = {e.type: e for e in events}
    assert by_type["charge.refunded"].data.object.amount_refunded == 100
    assert by_type["charge.refunded"].data.previous_attributes.to_dict() == {
        "amount_refunded": 0, "refunded": False}
    assert by_type["charge.dispute.closed"].data.object.status == "lost"
    assert by_type["charge.dispute.closed"].data.previous_attributes.status == "needs_response"
    assert by_type["refund.updated"].data.previous_attributes.metadata.to_dict() == {}
    assert by_type["refund.created"]["request"]["id"].startswith("req_")
    assert by_type["refund.created"]["request"]["idempotency_key"]
    assert by_type["checkout.session.completed"]["request"]["id"] is None
    only_refunds = client.v1.events.list(params={"type": "charge.refunded"}).data
    assert [e.id for e in only_refunds] == [by_type["charge.refunded"].id]


def test_enabled_events_filter(client: stripe.StripeClient, receiver: Receiver,
                               paid_session: PaidSession, idle: Idle) -> None:
    client.v1.webhook_endpoints.create(params={"url": receiver.url,
                                               "enabled_events": ["checkout.session.completed"]})
    paid_session()
    idle()
    assert receiver.types() == ["checkout.session.completed"]


def test_failing_endpoint_is_retried_with_backoff(endpoint: stripe.WebhookEndpoint,
                                                  receiver: Receiver, paid_session: PaidSession,
                                                  control: Control, idle: Idle) -> None:
    receiver.statuses = [500]
    paid_session()
    idle()
    received = receiver.wait_for(5)
    ids = [item.event["id"] for item in received]
    # The failed one comes again after the backoff; the others were not held up meanwhile.
    assert len(ids) == 5 and ids.count(ids[0]) == 2 and len(set(ids)) == 4
    log = control("GET", "/webhooks/deliveries")["deliveries"]
    first = [entry for entry in log if entry["event_id"] == received[0].event["id"]]
    assert [(e["attempt"], e["status"], e["ok"]) for e in first] == [(1, 500, False),
                                                                     (2, 200, True)]
    assert first[0]["retry_in"] == pytest.approx(0.05)
    assert first[0]["endpoint"] == endpoint.id and first[0]["url"] == receiver.url
    assert first[0]["type"] == "payment_intent.created"
    assert isinstance(first[0]["timestamp"], int)


def test_unreachable_endpoint_gives_up_after_max_attempts(client: stripe.StripeClient,
                                                          paid_session: PaidSession,
                                                          control: Control, idle: Idle) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client.v1.webhook_endpoints.create(params={
        "url": f"http://127.0.0.1:{port}/gone", "enabled_events": ["checkout.session.completed"]})
    paid_session()
    idle()
    log = control("GET", "/webhooks/deliveries")["deliveries"]
    assert [e["attempt"] for e in log] == [1, 2, 3, 4]
    assert all(e["status"] is None and e["error"] for e in log)
    assert [e["retry_in"] for e in log] == pytest.approx([0.05, 0.1, 0.2, None])


def test_fail_control_simulates_failures_then_delivers(endpoint: stripe.WebhookEndpoint,
                                                       receiver: Receiver,
                                                       paid_session: PaidSession,
                                                       control: Control, idle: Idle) -> None:
    control("POST", "/webhooks/fail", {"count": 2, "status": 503})
    control("POST", "/webhooks/fail", {"count": 2, "status": 503})
    paid_session()
    idle()
    log = control("GET", "/webhooks/deliveries")["deliveries"]
    simulated = [e for e in log if e["simulated"]]
    assert [e["status"] for e in simulated] == [503, 503]
    assert len(receiver.received) == 4
    assert len({r.event["id"] for r in receiver.received}) == 4


def test_fail_control_with_status_0_does_not_send(endpoint: stripe.WebhookEndpoint,
                                                  receiver: Receiver, paid_session: PaidSession,
                                                  control: Control, idle: Idle) -> None:
    control("POST", "/webhooks/fail", {"count": 1, "status": 0})
    paid_session()
    idle()
    log = control("GET", "/webhooks/deliveries")["deliveries"]
    assert log[0]["status"] is None and "not sent" in log[0]["error"]
    assert log[1]["attempt"] == 1 and log[1]["ok"] is True
    assert len(receiver.received) == 4


def test_duplicate_control_sends_the_same_event_twice(endpoint: stripe.WebhookEndpoint,
                                                      receiver: Receiver,
                                                      paid_session: PaidSession,
                                                      control: Control, idle: Idle) -> None:
    control("POST", "/webhooks/duplicate", {"count": 1})
    paid_session()
    idle()
    ids = [r.event["id"] for r in receiver.received]
    assert len(ids) == 5 and ids[0] == ids[1] and len(set(ids)) == 4
    for item in receiver.received[:2]:
        verified(item, endpoint.secret)


def test_reorder_control_sends_a_batch_newest_first(client: stripe.StripeClient,
                                                    endpoint: stripe.WebhookEndpoint,
                                                    receiver: Receiver,
                                                    paid_session: PaidSession, control: Control,
                                                    idle: Idle) -> None:
    session = paid_session()
    idle()
    start = len(receiver.received)
    control("POST", "/webhooks/reorder", {"count": 2})
    intent = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    client.v1.refunds.create(params={"payment_intent": intent})
    idle()
    assert receiver.types()[start:] == ["charge.refunded", "refund.created"]
    held = control("POST", "/webhooks/reorder", {"count": 5})
    assert held["hold_remaining"] == 5
    client.v1.refunds.update(client.v1.refunds.list().data[0].id,
                             params={"metadata": {"a": "1"}})
    idle()
    assert control("GET", "/webhooks")["held"] == 1
    assert control("POST", "/webhooks/release")["released"] == 1
    idle()
    assert receiver.types()[-1] == "refund.updated"


def test_delay_control_holds_back_the_next_event(endpoint: stripe.WebhookEndpoint,
                                                 receiver: Receiver, new_session: NewSession,
                                                 client: stripe.StripeClient, control: Control,
                                                 idle: Idle) -> None:
    control("POST", "/webhooks/delay", {"seconds": 0.6, "count": 1})
    session = new_session()
    started = time.monotonic()
    client.v1.checkout.sessions.expire(session.id)
    time.sleep(0.3)
    assert receiver.received == []
    receiver.wait_for(1)
    assert time.monotonic() - started >= 0.6
    assert receiver.types() == ["checkout.session.expired"]
    assert control("GET", "/webhooks")["controls"]["delay_remaining"] == 0


def test_clock_advance_expires_and_moves_signature_time(endpoint: stripe.WebhookEndpoint,
                                                        receiver: Receiver,
                                                        new_session: NewSession,
                                                        control: Control) -> None:
    session = new_session(expires_at=int(time.time()) + 1800)
    control("POST", "/clock/advance", {"seconds": 3600})
    item = receiver.wait_for(1)[0]
    assert item.event["type"] == "checkout.session.expired"
    assert item.event["data"]["object"]["id"] == session.id
    timestamp = int(item.headers["Stripe-Signature"].split(",")[0][2:])
    assert timestamp >= int(time.time()) + 3590
    assert item.event["created"] >= int(time.time()) + 3590
    verified(item, endpoint.secret)


def test_expiry_happens_lazily_without_a_request(endpoint: stripe.WebhookEndpoint,
                                                 receiver: Receiver, new_session: NewSession,
                                                 emulator: Emulator) -> None:
    session = new_session(expires_at=int(time.time()) + 1800)
    emulator.clock.advance(1800)
    # No API call: the webhook thread's periodic sweep notices.
    assert receiver.wait_for(1)[0].event["data"]["object"]["id"] == session.id


def test_reset_forgets_objects_deliveries_and_controls(client: stripe.StripeClient,
                                                       endpoint: stripe.WebhookEndpoint,
                                                       receiver: Receiver, paid_session: PaidSession,
                                                       control: Control, idle: Idle) -> None:
    paid_session()
    idle()
    control("POST", "/webhooks/duplicate", {"count": 3})
    control("POST", "/clock/advance", {"seconds": 60})
    control("POST", "/reset")
    assert client.v1.checkout.sessions.list().data == []
    assert client.v1.webhook_endpoints.list().data == []
    assert control("GET", "/webhooks/deliveries")["deliveries"] == []
    assert control("GET", "/webhooks")["controls"]["duplicate_remaining"] == 0
    assert control("GET", "/clock")["offset"] == 0


def test_control_rejects_bad_input(control: Control, server: ServerThread, web: requests.Session
        ) -> None:
    for path, body in [("/webhooks/fail", {"count": -1}), ("/webhooks/delay", {}),
                       ("/clock/advance", {"seconds": "soon"}), ("/webhooks/fail", {"status": 42})]:
        answer = web.post(f"{server.base_url}/__emulator__{path}", json=body, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"]
    answer = web.post(f"{server.base_url}/__emulator__/clock/advance", data="[]", timeout=10,
                      headers={"Content-Type": "application/json"})
    assert answer.status_code == 400


def test_preregistered_endpoint_signs_with_the_given_secret(receiver: Receiver,
                                                            web: requests.Session) -> None:
    app = create_app(webhooks=[(receiver.url, "whsec_known_for_make_run")],
                     settings=fast_settings())
    emulator = app.extensions["stripe_emulator"]
    try:
        with ServerThread(app) as server:
            session = stripe.StripeClient(
                "sk_test_x", base_addresses={"api": server.base_url}, max_network_retries=0,
                http_client=stripe.RequestsClient(session=web)).v1.checkout.sessions.create(
                params={"mode": "payment", "success_url": "http://shop.test/ok",
                        "line_items": [{"quantity": 1, "price_data": {
                            "currency": "usd", "unit_amount": 700,
                            "product_data": {"name": "Single"}}}]})
            web.post(session.url, data={"cardnumber": "4242424242424242"},
                     allow_redirects=False, timeout=10)
            assert emulator.webhooks.wait_idle(10)
            control_reset = web.post(f"{server.base_url}/__emulator__/reset", timeout=10)
            assert control_reset.status_code == 200
            assert len(emulator.webhook_endpoints) == 1
    finally:
        emulator.close()
    events = [verified(item, "whsec_known_for_make_run") for item in receiver.received]
    assert events[-1].type == "checkout.session.completed"
