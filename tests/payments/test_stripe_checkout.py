"""Buying through Stripe Checkout: the session the store creates, paying, coming back,
cancelling, declines and expiry. Real emulator over HTTP, real SDK, webhooks to the store."""

from __future__ import annotations

import time

import pytest

from shop.accounting import pack_stats
from shop.extensions import db
from shop.models import Order
from tests.payments.conftest import (
    BUYER,
    DECLINE_CARD,
    Buyer,
    Emulated,
    events_recorded,
    order_now,
    order_token,
    receipts,
)


def test_buy_creates_a_checkout_session_and_redirects_to_it(app, pack, buyer: Buyer, emulated: Emulated):
    before = int(time.time())
    checkout = buyer.buy(pack.slug, "12.50")
    session = emulated.client.v1.checkout.sessions.retrieve(checkout.session_id,
                                                            params={"expand": ["line_items"]})
    assert session.status == "open" and session.payment_status == "unpaid"
    assert session.amount_total == 1250 and session.currency == "usd"
    assert session.line_items is not None
    [item] = session.line_items.data
    assert item.description == pack.title and item.quantity == 1
    assert session.client_reference_id == str(checkout.order_id)
    assert session.metadata is not None and session.metadata["order_id"] == str(checkout.order_id)
    assert session.customer_email == BUYER
    assert 3500 <= session.expires_at - before <= 3660
    assert session.success_url == (f"{app.config['BASE_URL']}/payments/stripe/return"
                                   "?session_id={CHECKOUT_SESSION_ID}")
    assert session.cancel_url == f"{app.config['BASE_URL']}/packs/{pack.slug}/checkout-cancelled"
    order = order_now(checkout.order_id)
    assert order.status == "pending" and order.amount_cents == 1250 and order.payment_provider == "stripe"


def test_a_repeated_buy_continues_the_order_and_only_the_newest_session_stays_open(pack, buyer: Buyer,
                                                                                   emulated: Emulated):
    first = buyer.buy(pack.slug, "12.00")
    second = buyer.buy(pack.slug, "15.00")
    assert second.order_id == first.order_id and second.session_id != first.session_id
    sessions = emulated.client.v1.checkout.sessions
    assert sessions.retrieve(first.session_id).status == "expired"
    assert sessions.retrieve(second.session_id).amount_total == 1500


def test_cancel_returns_to_the_pack_page_with_the_amount_and_email_kept(client, pack, buyer: Buyer):
    checkout = buyer.buy(pack.slug, "13.75")
    page = client.get(f"/packs/{pack.slug}/checkout-cancelled")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="13.75"' in html and f'value="{BUYER}"' in html
    # Another browser sees the plain pack page.
    other = client.application.test_client().get(f"/packs/{pack.slug}/checkout-cancelled")
    assert other.status_code == 303 and other.headers["Location"].endswith(f"/packs/{pack.slug}")
    assert order_now(checkout.order_id).status == "pending"


@pytest.mark.postgresql
def test_webhook_before_the_return_pays_once_with_one_receipt(app, pack, buyer: Buyer, emulated: Emulated):
    checkout = buyer.buy(pack.slug, "12.00")
    paid = emulated.pay(checkout.session_id)
    assert paid["paid"]
    emulated.wait()
    order = order_now(checkout.order_id)
    assert order.status == "paid" and order.payment_intent_id and order.paid_at
    assert len(receipts(app)) == 1
    back = buyer.come_back(paid["redirect"])
    assert back.status_code == 303
    page = buyer.client.get(f"/orders/{order_token(back)}")
    assert "Thank you! Your payment went through" in page.get_data(as_text=True)
    assert len(receipts(app)) == 1
    assert pack_stats(pack.id) == (1, 1200, 1200)


def test_the_return_alone_pays_when_no_webhook_arrives(app, pack, buyer: Buyer, emulated: Emulated):
    emulated.control("webhooks/fail", {"count": 1000, "status": 0})  # nothing reaches the store
    checkout = buyer.buy(pack.slug, "12.00")
    paid = emulated.pay(checkout.session_id)
    back = buyer.come_back(paid["redirect"])
    assert back.status_code == 303
    order = order_now(checkout.order_id)
    assert order.status == "paid" and len(receipts(app)) == 1
    assert events_recorded() == []
    page = buyer.client.get(f"/orders/{order_token(back)}").get_data(as_text=True)
    assert "Payment: <strong>paid</strong>" in page


def test_a_return_for_someone_elses_session_mints_no_link(app, pack, buyer: Buyer, emulated: Emulated):
    checkout = buyer.buy(pack.slug, "12.00")
    paid = emulated.pay(checkout.session_id)
    stranger = app.test_client().get(paid["redirect"].split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert stranger.status_code == 303 and stranger.headers["Location"].endswith("/checkout/thanks")
    assert order_now(checkout.order_id).status == "paid"


def test_return_with_an_unknown_or_malformed_session_is_a_404(client, emulated: Emulated):
    assert client.get("/payments/stripe/return?session_id=cs_test_nope").status_code == 404
    assert client.get("/payments/stripe/return?session_id=../../v1/charges").status_code == 404
    assert client.get("/payments/stripe/return").status_code == 404


def test_a_declined_card_leaves_the_order_pending_then_another_card_pays(app, pack, buyer: Buyer,
                                                                         emulated: Emulated):
    checkout = buyer.buy(pack.slug, "12.00")
    declined = emulated.pay(checkout.session_id, DECLINE_CARD)
    assert not declined["paid"] and declined["code"] == "card_declined"
    emulated.wait()
    assert order_now(checkout.order_id).status == "pending" and receipts(app) == []
    paid = emulated.pay(checkout.session_id)
    assert paid["paid"]
    emulated.wait()
    assert order_now(checkout.order_id).status == "paid" and len(receipts(app)) == 1


def test_an_expired_session_leaves_the_order_unpaid_and_a_retry_pays(app, pack, buyer: Buyer, emulated: Emulated):
    first = buyer.buy(pack.slug, "12.00")
    emulated.client.v1.checkout.sessions.expire(first.session_id)
    emulated.wait()
    order = order_now(first.order_id)
    assert order.status == "pending" and order.checkout_expires_at is None
    assert [e.type for e in events_recorded()] == ["checkout.session.expired"]
    # The expired page cannot be paid; the buyer buys again: the same order, a new session.
    assert buyer.emulated.web.get(first.url, timeout=10).status_code == 410
    retry = buyer.buy(pack.slug, "12.00")
    assert retry.order_id == first.order_id and retry.session_id != first.session_id
    paid = emulated.pay(retry.session_id)
    emulated.wait()
    assert buyer.come_back(paid["redirect"]).status_code == 303
    assert order_now(first.order_id).status == "paid" and len(receipts(app)) == 1
    assert db.session.scalar(db.select(db.func.count(Order.id))) == 1


def test_a_session_expiring_with_time_leaves_the_order_unpaid(app, pack, buyer: Buyer, emulated: Emulated):
    checkout = buyer.buy(pack.slug, "12.00")
    advanced = emulated.advance(3700)
    assert checkout.session_id in advanced["expired_sessions"]
    emulated.wait()
    order = order_now(checkout.order_id)
    assert order.status == "pending" and order.paid_at is None and receipts(app) == []
    # Its return URL, reached by hand, pays nothing and sends the buyer back to the pack.
    back = buyer.client.get(f"/payments/stripe/return?session_id={checkout.session_id}")
    assert back.status_code == 303 and back.headers["Location"].endswith(f"/packs/{pack.slug}/checkout-cancelled")
    assert order_now(checkout.order_id).status == "pending"


def test_a_pending_order_page_offers_to_finish_paying_while_its_checkout_is_open(app, client, pack, buyer: Buyer,
                                                                                 emulated: Emulated):
    from shop.order_links import mint_link

    checkout = buyer.buy(pack.slug, "12.00")
    token = mint_link(db.session.get(Order, checkout.order_id))
    db.session.commit()
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert "Payment: <strong>pending</strong>" in page and "Finish paying" in page
    finish = client.get(f"/orders/{token}/finish-payment")
    assert finish.status_code == 303 and finish.headers["Location"] == checkout.url
    emulated.client.v1.checkout.sessions.expire(checkout.session_id)
    emulated.wait()
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert "Finish paying" not in page and "Buy the pack again" in page
    finish = client.get(f"/orders/{token}/finish-payment")
    assert finish.status_code == 303 and finish.headers["Location"].endswith(f"/packs/{pack.slug}")
