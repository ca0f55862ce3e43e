"""SEPA Debit on the hosted page: the session completes unpaid, the debit settles later on the
emulator's clock, and the async_payment events follow, shaped as Stripe sends them."""

from __future__ import annotations

import pytest
import requests
import stripe

from stripe_emulator.__main__ import build_parser

from .conftest import Control, Idle, NewSession, Receiver

GOOD_IBAN = "DE89370400440532013000"
FAILING_IBAN = "DE62370400440532013001"


def pay_by_iban(web: requests.Session, session: stripe.checkout.Session, iban: str
                ) -> requests.Response:
    assert session.url is not None
    return web.post(session.url, data={"method": "sepa_debit", "iban": iban, "name": "Ada B"},
                    allow_redirects=False, timeout=10)


def events_of(receiver: Receiver, count: int) -> list[dict]:
    return [item.event for item in receiver.wait_for(count)]


def test_eur_sessions_offer_sepa_debit_and_other_currencies_only_cards(
        new_session: NewSession, web: requests.Session) -> None:
    eur = new_session()
    assert eur.payment_method_types == ["card", "sepa_debit"]
    assert 'name="iban"' in web.get(eur.url, timeout=10).text
    usd = new_session(line_items=[{"quantity": 1, "price_data": {
        "currency": "usd", "unit_amount": 900, "product_data": {"name": "Pack"}}}])
    assert usd.payment_method_types == ["card"]
    assert 'name="iban"' not in web.get(usd.url, timeout=10).text
    cards_only = new_session(payment_method_types=["card"])
    assert cards_only.payment_method_types == ["card"]
    assert pay_by_iban(web, cards_only, GOOD_IBAN).status_code == 402


def test_sepa_debit_needs_euros(new_session: NewSession) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_session(payment_method_types=["card", "sepa_debit"], line_items=[{
            "quantity": 1, "price_data": {"currency": "usd", "unit_amount": 900,
                                          "product_data": {"name": "Pack"}}}])
    assert caught.value.param == "payment_method_types"
    assert "sepa_debit supports the following currencies: eur" in str(caught.value)


def test_succeeding_iban_completes_unpaid_then_settles_paid_on_the_clock(
        client: stripe.StripeClient, new_session: NewSession, web: requests.Session,
        control: Control, idle: Idle, receiver: Receiver, endpoint: stripe.WebhookEndpoint
        ) -> None:
    control("POST", "/async_delay", {"seconds": 3600})
    session = new_session()
    answer = pay_by_iban(web, session, "de89 3704 0044 0532 0130 00")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"http://shop.test/orders/paid?session_id={session.id}"

    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (done.status, done.payment_status, done.url) == ("complete", "unpaid", None)
    intent = done.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.status == "processing" and intent.amount_received == 0
    method = client.v1.payment_methods.retrieve(intent.payment_method)
    assert method.type == "sepa_debit" and method.sepa_debit.last4 == "3000"
    assert method.billing_details.name == "Ada B"
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.paid) == ("pending", False)
    assert charge.payment_method_details.type == "sepa_debit"
    assert charge.payment_method_details.sepa_debit.mandate.startswith("mandate_")
    idle()
    assert receiver.types() == ["payment_intent.created", "charge.pending",
                                "payment_intent.processing", "checkout.session.completed"]
    completed = receiver.received[-1].event["data"]["object"]
    assert (completed["status"], completed["payment_status"]) == ("complete", "unpaid")

    # Nothing settles before the delay has passed on the emulator's clock.
    assert control("POST", "/clock/advance", {"seconds": 3000})["settled_payments"] == []
    assert client.v1.payment_intents.retrieve(intent.id).status == "processing"
    advanced = control("POST", "/clock/advance", {"seconds": 600})
    assert advanced["settled_payments"] == [intent.id]
    idle()
    assert receiver.types()[4:] == ["charge.succeeded", "payment_intent.succeeded",
                                    "checkout.session.async_payment_succeeded"]
    events = [item.event for item in receiver.received[4:]]
    assert events[0]["data"]["previous_attributes"] == {"status": "pending"}
    assert events[1]["data"]["object"]["status"] == "succeeded"
    assert events[1]["data"]["previous_attributes"]["status"] == "processing"
    settled_session = events[2]["data"]["object"]
    assert (settled_session["status"], settled_session["payment_status"]) == ("complete", "paid")
    assert settled_session["payment_intent"] == intent.id
    assert client.v1.charges.retrieve(charge.id).status == "succeeded"
    assert client.v1.payment_intents.retrieve(intent.id).amount_received == 1500
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_failing_iban_leaves_the_intent_needing_a_method(
        client: stripe.StripeClient, new_session: NewSession, web: requests.Session,
        control: Control, idle: Idle, receiver: Receiver, endpoint: stripe.WebhookEndpoint
        ) -> None:
    control("POST", "/async_delay", {"seconds": 60})
    session = new_session()
    paid = control("POST", f"/checkout/sessions/{session.id}/pay", {"iban": FAILING_IBAN})
    assert (paid["status"], paid["paid"]) == ("processing", False)
    assert paid["redirect"].endswith(session.id)
    control("POST", "/clock/advance", {"seconds": 60})
    idle()
    assert receiver.types()[-3:] == ["charge.failed", "payment_intent.payment_failed",
                                     "checkout.session.async_payment_failed"]
    failed_session = receiver.received[-1].event["data"]["object"]
    assert (failed_session["status"], failed_session["payment_status"]) == ("complete", "unpaid")

    intent = client.v1.payment_intents.retrieve(failed_session["payment_intent"])
    assert intent.status == "requires_payment_method" and intent.payment_method is None
    error = intent.last_payment_error
    assert error.code == "payment_intent_payment_attempt_failed"
    assert error.payment_method.type == "sepa_debit"
    assert client.v1.payment_methods.retrieve(error.payment_method.id).sepa_debit.last4 == "3001"
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.paid, charge.failure_code) == ("failed", False,
                                                                 "insufficient_funds")


def test_debit_settles_by_itself_after_the_delay(
        new_session: NewSession, web: requests.Session, control: Control, receiver: Receiver,
        endpoint: stripe.WebhookEndpoint) -> None:
    control("POST", "/async_delay", {"seconds": 0.2})
    session = new_session()
    assert pay_by_iban(web, session, GOOD_IBAN).status_code == 303
    # The webhook thread's sweep (every 50 ms here) settles it; no clock advance needed.
    events = events_of(receiver, 7)
    assert events[-1]["type"] == "checkout.session.async_payment_succeeded"


@pytest.mark.parametrize(("iban", "message"), [
    ("DE89370400440532013009", "Your IBAN is incorrect."),
    ("not an iban", "Your IBAN is incorrect."),
    ("FR1420041010050500013M02606", "non test IBAN"),
])
def test_bad_ibans_are_refused_on_the_page(client: stripe.StripeClient, new_session: NewSession,
                                           web: requests.Session, iban: str, message: str) -> None:
    session = new_session()
    answer = pay_by_iban(web, session, iban)
    assert answer.status_code == 402 and message in answer.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert client.v1.payment_intents.list().data == []


def test_async_delay_flag() -> None:
    assert build_parser().parse_args([]).async_delay == 3.0
    assert build_parser().parse_args(["--async-delay", "0.5"]).async_delay == 0.5
