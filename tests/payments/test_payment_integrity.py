"""Payments that hold against real Stripe (issue 19, review 2026-12 L1-L4): only the store's own
Checkout Session pays an order, one payment per order, amounts scaled per currency, the return
URL answered from the database. Real emulator over HTTP, real SDK, signed webhooks to the store."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import stripe
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Order
from tests.payments.conftest import (
    BUYER,
    Buyer,
    Emulated,
    mail_subjects,
    order_now,
    order_token,
    receipts,
)

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def rogue_session(emulated: Emulated, store_base: str, order_id: int, amount: int, currency: str) -> Any:
    """A session naming the order, made with the account's key by someone other than the store
    (a second shop, a script): review L1's reproduction."""
    ref = str(order_id)
    return emulated.client.v1.checkout.sessions.create(params={
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {"currency": currency, "unit_amount": amount,
                                                      "product_data": {"name": "x"}}}],
        "client_reference_id": ref, "metadata": {"order_id": ref},
        "success_url": f"{store_base}/payments/stripe/return?session_id={{CHECKOUT_SESSION_ID}}",
    })


def set_currency(pack, currency: str, minimum: int, suggested: int) -> None:
    pack.currency, pack.min_price_cents, pack.suggested_price_cents = currency, minimum, suggested
    db.session.commit()


# -- L1: only the store's own session pays an order --------------------------------------------


@pytest.mark.parametrize(("amount", "currency"), [(50, "usd"), (60, "jpy")])
def test_a_session_the_store_did_not_create_pays_nothing(app, pack, buyer: Buyer, emulated: Emulated, caplog,
                                                         amount: int, currency: str):
    caplog.set_level(logging.WARNING, logger="shop.payments")
    checkout = buyer.buy(pack.slug, "5.00")
    rogue = rogue_session(emulated, app.config["BASE_URL"], checkout.order_id, amount, currency)
    paid = emulated.pay(rogue.id)
    assert paid["paid"]
    emulated.wait()
    order = order_now(checkout.order_id)
    assert (order.status, order.amount_cents, order.currency) == ("pending", 500, "USD")
    assert receipts(app) == []
    # Its return URL is not one of the store's sessions either.
    assert buyer.come_back(paid["redirect"]).status_code == 404
    assert order_now(checkout.order_id).status == "pending"
    assert rogue.id in caplog.text and f"order {checkout.order_id}" in caplog.text
    # The store's own session still pays the order, for its amount.
    assert emulated.pay(checkout.session_id)["paid"]
    emulated.wait()
    order = order_now(checkout.order_id)
    assert (order.status, order.amount_cents) == ("paid", 500) and len(receipts(app)) == 1


# -- L2: one open session per order; a second payment goes back ----------------------------------


def test_buying_again_after_paying_makes_no_second_session(app, pack, buyer: Buyer, emulated: Emulated):
    """Review L2, reproduction 1: paid, the tab closed before the return, the webhooks late."""
    emulated.control("webhooks/fail", {"count": 1000, "status": 0})
    first = buyer.buy(pack.slug, "6.00")
    assert emulated.pay(first.session_id)["paid"]
    again = buyer.client.post(f"/packs/{pack.slug}/buy", data={"amount": "6.00", "email": BUYER})
    assert again.status_code == 303
    # Not a new payment page: the return of the session that was paid, which leads to the order.
    assert again.headers["Location"].endswith(f"/payments/stripe/return?session_id={first.session_id}")
    back = buyer.client.get(again.headers["Location"].split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert back.status_code == 303 and order_token(back)
    order = order_now(first.order_id)
    assert (order.status, order.checkout_session_id) == ("paid", first.session_id)
    assert len(receipts(app)) == 1


def test_two_concurrent_buys_from_one_browser_leave_one_session_open(app, pack, client: FlaskClient,
                                                                      emulated: Emulated, monkeypatch):
    """Review L2, reproduction 2: both submits of one browser at once; only one session can be paid.

    Real Stripe takes a few hundred milliseconds to create a session (the emulator answers at
    loopback speed), which is the window two submits race in: the SDK's HTTP client is given
    that latency here.
    """
    send = stripe.RequestsClient.request

    def like_stripe(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if method == "post" and url.endswith("/v1/checkout/sessions"):
            time.sleep(0.4)
        return send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(stripe.RequestsClient, "request", like_stripe)
    assert client.get(f"/packs/{pack.slug}").status_code == 200  # the browser's checkout session starts
    cookie = client.get_cookie("shop_session")
    assert cookie is not None
    browsers = [client, app.test_client()]
    browsers[1].set_cookie("shop_session", cookie.value)
    barrier = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def buy(index: int, amount: str) -> None:
        with app.app_context():
            barrier.wait(timeout=30)
            answers[index] = browsers[index].post(f"/packs/{pack.slug}/buy", data={"amount": amount, "email": BUYER})
            db.session.remove()

    threads = [threading.Thread(target=buy, args=(i, amount)) for i, amount in enumerate(("7.00", "9.00"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(answer is not None and answer.status_code == 303 for answer in answers), answers
    session_ids = {answer.headers["Location"].rsplit("/", 1)[1] for answer in answers}
    db.session.rollback()
    orders = db.session.scalars(db.select(Order)).all()
    assert len(orders) == 1
    statuses = {sid: emulated.client.v1.checkout.sessions.retrieve(sid).status for sid in session_ids}
    assert list(statuses.values()).count("open") == 1, statuses
    [open_id] = [sid for sid, status in statuses.items() if status == "open"]
    assert orders[0].checkout_session_id == open_id
    db.session.commit()


@pytest.fixture
def console(app) -> FlaskClient:
    """A client logged in through the console's form (see tests/admin/conftest.py); asked for
    before the app serves anything."""
    from flask import g

    from shop.admin import operators

    @app.before_request
    def forget_cached_user() -> None:
        g.pop("_login_user", None)

    operator = operators.create("ops@example.com", "correct horse battery")
    client = app.test_client()
    assert client.post("/admin/login", data={"email": operator.email, "password": "correct horse battery"}
                       ).status_code == 302
    return client


def test_a_second_payment_for_a_paid_order_is_refunded_and_the_buyer_told(app, console: FlaskClient, pack,
                                                                          buyer: Buyer, emulated: Emulated):
    """Two sessions of one order, both made by the store and both paid (the race the lock
    closes, or a payment the network delayed past the expiry): the order is paid once and
    the second payment goes back through Stripe, once."""
    from shop.payments.models import CheckoutSession

    first = buyer.buy(pack.slug, "8.00")
    ref = str(first.order_id)
    # A second session of the store's for the order, as a second checkout would have made it.
    second = emulated.client.v1.checkout.sessions.create(params={
        "mode": "payment", "client_reference_id": ref, "metadata": {"order_id": ref},
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 800,
                                                      "product_data": {"name": pack.title}}}],
        "success_url": f"{app.config['BASE_URL']}/payments/stripe/return?session_id={{CHECKOUT_SESSION_ID}}",
    })
    db.session.add(CheckoutSession(session_id=second.id, order_id=first.order_id, amount_cents=800, currency="USD"))
    db.session.commit()
    assert emulated.pay(first.session_id)["paid"]
    emulated.wait()
    assert emulated.pay(second.id)["paid"]
    emulated.wait()
    order = order_now(first.order_id)
    assert (order.status, order.amount_cents, order.refunded_cents) == ("paid", 800, 0)
    duplicate = emulated.client.v1.checkout.sessions.retrieve(second.id).payment_intent
    assert isinstance(duplicate, str) and duplicate != order.payment_intent_id
    [refund] = emulated.client.v1.refunds.list(params={"payment_intent": duplicate}).data
    assert (refund.amount, refund.reason, refund.status) == (800, "duplicate", "succeeded")
    assert emulated.client.v1.refunds.list(params={"payment_intent": order.payment_intent_id}).data == []
    assert len(receipts(app)) == 1
    assert mail_subjects(app).count(f"A second payment for your {pack.title} order was refunded") == 1
    # The console's order page shows it.
    page = console.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "second payment, refunded automatically" in page and refund.id in page


# -- L3: amounts scaled per currency at Stripe ---------------------------------------------------


@pytest.mark.parametrize(("currency", "minimum", "typed", "charged", "shown"), [
    ("USD", 100, "12.50", 1250, "$12.50"),
    ("EUR", 100, "12.50", 1250, "€12.50"),
    ("JPY", 500, "500", 500, "¥500"),
    ("KWD", 1000, "12.34", 12340, "12.340 KWD"),
])
def test_stripe_charges_what_the_buyer_typed(app, pack, buyer: Buyer, emulated: Emulated, currency, minimum,
                                             typed, charged, shown):
    set_currency(pack, currency, minimum, minimum * 2)
    checkout = buyer.buy(pack.slug, typed)
    session = emulated.client.v1.checkout.sessions.retrieve(checkout.session_id)
    assert (session.amount_total, session.currency) == (charged, currency.lower())
    paid = emulated.pay(checkout.session_id)
    assert paid["paid"]
    emulated.wait()
    order = order_now(checkout.order_id)
    assert (order.status, order.amount_cents, order.currency) == ("paid", charged, currency)
    page = buyer.client.get(f"/orders/{order_token(buyer.come_back(paid['redirect']))}").get_data(as_text=True)
    assert f"Order #{order.id} · {shown}" in page


@pytest.mark.parametrize(("currency", "typed", "message"), [
    ("EUR", "0.20", "smallest payment our card processor takes in EUR is €0.50"),
    ("JPY", "20", "smallest payment our card processor takes in JPY is ¥50"),
    ("JPY", "500.00", "whole numbers"),
    ("KWD", "1.235", "steps of 0.010 KWD"),
])
def test_an_amount_stripe_cannot_charge_is_a_form_error(app, pack, client: FlaskClient, emulated: Emulated,
                                                        currency, typed, message):
    set_currency(pack, currency, 0, 1000)
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": typed, "email": BUYER})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Order.id))) == 0


# -- L4: the return URL answers from the database ------------------------------------------------


def test_the_return_never_asks_stripe_about_a_session_the_store_did_not_create(app, client: FlaskClient):
    # Stripe unreachable: a made-up id is still a plain 404 (not "Payments are not available").
    app.config["STRIPE_API_URL"] = "http://127.0.0.1:9"
    for n in range(3):
        assert client.get(f"/payments/stripe/return?session_id=cs_review{n}").status_code == 404


def test_the_return_is_rate_limited_per_client(app, client: FlaskClient, emulated: Emulated):
    app.config["STRIPE_RETURNS_PER_CLIENT"] = 3
    answers = [client.get(f"/payments/stripe/return?session_id=cs_review{n}").status_code for n in range(5)]
    assert answers == [404, 404, 404, 429, 429]
    other = app.test_client().get("/payments/stripe/return?session_id=cs_review9",
                                  environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 404
