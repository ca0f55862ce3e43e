"""Amounts and currencies as Stripe checks them: the ISO list, minor units, minimums, the
maximum, and sessions of amount 0."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from .conftest import Idle, NewSession, Receiver


def one_item(currency: str, unit_amount: int, quantity: int = 1) -> dict[str, Any]:
    return {"line_items": [{"quantity": quantity, "price_data": {
        "currency": currency, "unit_amount": unit_amount, "product_data": {"name": "Pack"}}}]}


@pytest.mark.parametrize(("currency", "amount", "shown"), [
    ("eur", 49, "€0.50 eur"), ("usd", 49, "$0.50 usd"), ("gbp", 29, "£0.30 gbp"),
    ("jpy", 49, "¥50 jpy"), ("chf", 49, "0.50 chf"),
])
def test_sessions_under_the_currency_minimum_are_refused(new_session: NewSession, currency: str,
                                                          amount: int, shown: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_session(**one_item(currency, amount))
    error = caught.value.error
    assert error.type == "invalid_request_error" and error.code == "amount_too_small"
    assert error.message == f"The Checkout Session's total amount due must add up to at least {shown}"
    assert new_session(**one_item(currency, amount + 1)).amount_total == amount + 1


def test_the_maximum_is_99_999_999_minor_units(new_session: NewSession) -> None:
    assert new_session(**one_item("usd", 99_999_999)).amount_total == 99_999_999
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_session(**one_item("usd", 100_000_000))
    assert caught.value.code == "amount_too_large"
    assert caught.value.param == "line_items[0][price_data][unit_amount]"
    assert "$999,999.99 usd" in str(caught.value)
    with pytest.raises(stripe.InvalidRequestError) as total:
        new_session(**one_item("jpy", 60_000_000, quantity=2))
    assert total.value.code == "amount_too_large"
    assert "¥99,999,999 jpy" in str(total.value)


@pytest.mark.parametrize("currency", ["xyz", "eu", "btc"])
def test_unknown_currencies_are_refused(new_session: NewSession, currency: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_session(**one_item(currency, 1000))
    assert caught.value.error.type == "invalid_request_error"
    assert caught.value.param == "line_items[0][price_data][currency]"
    assert f"Invalid currency: {currency}." in str(caught.value)


def test_currency_codes_are_case_insensitive(new_session: NewSession) -> None:
    assert new_session(**one_item("EUR", 1000)).currency == "eur"


@pytest.mark.parametrize(("currency", "amount", "page"), [
    ("jpy", 500, "500 JPY"), ("krw", 1000, "1000 KRW"), ("kwd", 1250, "1.250 KWD"),
    ("bhd", 990, "0.990 BHD"), ("usd", 1999, "19.99 USD"),
])
def test_minor_units_on_the_payment_page(new_session: NewSession, web: requests.Session,
                                         currency: str, amount: int, page: str) -> None:
    session = new_session(**one_item(currency, amount))
    assert f"Pay {page}" in web.get(session.url, timeout=10).text


def test_three_decimal_amounts_must_end_in_zero(new_session: NewSession) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_session(**one_item("kwd", 1255))
    assert caught.value.param == "line_items[0][price_data][unit_amount]"


def test_payment_intents_check_the_same_bounds(client: stripe.StripeClient) -> None:
    create = client.v1.payment_intents.create
    with pytest.raises(stripe.InvalidRequestError) as small:
        create(params={"amount": 49, "currency": "eur"})
    assert (small.value.code, small.value.param) == ("amount_too_small", "amount")
    assert small.value.error.message == "Amount must be at least €0.50 eur"
    with pytest.raises(stripe.InvalidRequestError) as large:
        create(params={"amount": 100_000_000, "currency": "usd"})
    assert (large.value.code, large.value.param) == ("amount_too_large", "amount")
    assert large.value.error.message == "Amount must be no more than $999,999.99 usd"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        create(params={"amount": 1000, "currency": "abc"})
    assert unknown.value.param == "currency"
    assert create(params={"amount": 50, "currency": "EUR"}).currency == "eur"


def test_a_session_of_zero_completes_without_a_payment(
        client: stripe.StripeClient, new_session: NewSession, web: requests.Session, idle: Idle,
        receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    session = new_session(**one_item("eur", 0))
    assert session.amount_total == 0 and session.status == "open"
    page = web.get(session.url, timeout=10).text
    assert "Complete order" in page and 'name="cardnumber"' not in page
    done = web.post(session.url, data={"method": "free"}, allow_redirects=False, timeout=10)
    assert done.status_code == 303 and done.headers["Location"].endswith(session.id)
    completed = client.v1.checkout.sessions.retrieve(session.id)
    assert (completed.status, completed.payment_status) == ("complete", "no_payment_required")
    assert completed.payment_intent is None
    assert client.v1.payment_intents.list().data == []
    assert client.v1.charges.list().data == []
    idle()
    assert receiver.types() == ["checkout.session.completed"]
    assert receiver.received[0].event["data"]["object"]["payment_status"] == "no_payment_required"
