"""Checkout Sessions and the hosted payment page, driven like a buyer and the store would."""

from __future__ import annotations

import re
import time

import pytest
import requests
import stripe

from emulator_common import ServerThread

from .conftest import API_KEY, NewSession, PaidSession, Pay

INTENT_FIELDS = set("""amount amount_capturable amount_details amount_received application
application_fee_amount automatic_payment_methods canceled_at cancellation_reason capture_method
client_secret confirmation_method created currency customer customer_account description
excluded_payment_method_types id last_payment_error latest_charge livemode managed_payments
metadata next_action object on_behalf_of payment_method payment_method_configuration_details
payment_method_options payment_method_types processing receipt_email review setup_future_usage
shipping statement_descriptor statement_descriptor_suffix status transfer_data
transfer_group""".split())
CHARGE_FIELDS = set("""amount amount_captured amount_refunded application application_fee
application_fee_amount balance_transaction billing_details calculated_statement_descriptor
captured created currency customer description disputed failure_balance_transaction
failure_code failure_message fraud_details id livemode metadata object on_behalf_of outcome
paid payment_intent payment_method payment_method_details receipt_email receipt_number
receipt_url refunded refunds review shipping source_transfer statement_descriptor
statement_descriptor_suffix status transfer_data transfer_group""".split())


def raw_fields(client: stripe.StripeClient, path: str) -> set[str]:
    return set(client.deserialize(client.raw_request("get", path), api_mode="V1").to_dict())


def test_create_returns_an_open_session_with_the_store_values(client: stripe.StripeClient,
                                                              new_session: NewSession) -> None:
    before = int(time.time())
    session = new_session()
    assert session.status == "open" and session.payment_status == "unpaid"
    assert session.mode == "payment"
    assert session.amount_total == 1500 and session.amount_subtotal == 1500
    assert session.currency == "eur"
    assert session.customer_email == "buyer@example.com"
    assert session.client_reference_id == "order-42"
    assert session.metadata.to_dict() == {"order_id": "42"}
    assert session.payment_intent is None
    assert session.success_url.endswith("session_id={CHECKOUT_SESSION_ID}")
    assert before <= session.created <= before + 5
    assert session.expires_at == session.created + 24 * 3600
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/c/pay/cs_test_\w+", session.url)
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert [(i.description, i.amount_total, i.quantity) for i in items.data] == [
        ("Winter Pack (5 albums)", 1500, 1)]


@pytest.mark.parametrize(("offset", "ok"), [(1800, True), (86400, True), (1700, False),
                                             (86500, False)])
def test_expires_at_between_30_minutes_and_24_hours(new_session: NewSession, offset: int,
                                                    ok: bool) -> None:
    wanted = int(time.time()) + offset
    if ok:
        assert new_session(expires_at=wanted).expires_at == wanted
    else:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            new_session(expires_at=wanted)
        assert caught.value.param == "expires_at"


def test_retrieve_list_and_filter(client: stripe.StripeClient, new_session: NewSession) -> None:
    first, second = new_session(), new_session(client_reference_id="order-43")
    assert client.v1.checkout.sessions.retrieve(first.id).client_reference_id == "order-42"
    listed = client.v1.checkout.sessions.list(params={"status": "open"})
    assert {s.id for s in listed.data} == {first.id, second.id}
    assert client.v1.checkout.sessions.list(params={"status": "complete"}).data == []


def test_hosted_page_shows_item_amount_and_a_plain_form(new_session: NewSession,
                                                        web: requests.Session) -> None:
    session = new_session()
    page = web.get(session.url, timeout=10)
    assert page.status_code == 200
    assert "Winter Pack (5 albums)" in page.text
    assert "15.00 EUR" in page.text
    assert 'name="cardnumber"' in page.text
    assert "<script" not in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert 'href="http://shop.test/packs/winter"' in page.text


def test_success_card_redirects_with_the_id_and_marks_everything_paid(client: stripe.StripeClient,
                                                                      new_session: NewSession,
                                                                      pay: Pay) -> None:
    session = new_session()
    answer = pay(session, "4242 4242 4242 4242")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"http://shop.test/orders/paid?session_id={session.id}"
    paid = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "payment_intent.latest_charge"]})
    assert paid.status == "complete" and paid.payment_status == "paid"
    assert paid.customer_details.email == "buyer@example.com"
    intent = paid.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.status == "succeeded" and intent.amount_received == 1500
    assert intent.metadata.to_dict() == {"order_id": "42"}
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.paid and charge.captured and charge.status == "succeeded"
    assert charge.payment_intent == intent.id
    assert charge.payment_method_details.card.last4 == "4242"
    assert raw_fields(client, f"/v1/payment_intents/{intent.id}") == INTENT_FIELDS
    assert raw_fields(client, f"/v1/charges/{charge.id}") == CHARGE_FIELDS
    assert client.v1.checkout.sessions.list(params={"payment_intent": intent.id}).data[0].id \
        == session.id
    assert [c.id for c in client.v1.charges.list(params={"payment_intent": intent.id}).data] \
        == [charge.id]


def test_decline_shows_the_error_and_another_card_then_pays(client: stripe.StripeClient,
                                                            new_session: NewSession, pay: Pay
        ) -> None:
    session = new_session()
    declined = pay(session, "4000000000000002")
    assert declined.status_code == 402
    assert "Your card was declined." in declined.text
    assert 'name="cardnumber"' in declined.text
    assert 'id="cancel" href="http://shop.test/packs/winter"' in declined.text
    after_decline = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge"]})
    assert after_decline.status == "open" and after_decline.payment_status == "unpaid"
    intent = after_decline.payment_intent
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == "generic_decline"
    assert intent.latest_charge.status == "failed"
    assert intent.latest_charge.failure_code == "card_declined"
    assert pay(session, "4242424242424242").status_code == 303
    paid = client.v1.payment_intents.retrieve(intent.id)
    assert paid.status == "succeeded" and paid.last_payment_error is None
    assert paid.latest_charge != intent.latest_charge.id


def test_insufficient_funds_card(client: stripe.StripeClient, new_session: NewSession, pay: Pay
        ) -> None:
    session = new_session()
    answer = pay(session, "4000 0000 0000 9995")
    assert answer.status_code == 402
    assert "Your card has insufficient funds." in answer.text
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    assert intent.last_payment_error.code == "card_declined"
    assert intent.last_payment_error.decline_code == "insufficient_funds"


@pytest.mark.parametrize(("card", "message"), [
    ("4242424242424241", "Your card number is incorrect."),
    ("abcd", "Your card number is incorrect."),
    ("5555555555554444", "non test (live) card"),
])
def test_bad_numbers_are_refused_without_a_charge(client: stripe.StripeClient,
                                                  new_session: NewSession, pay: Pay, card: str,
                                                  message: str) -> None:
    session = new_session()
    answer = pay(session, card)
    assert answer.status_code == 402 and message in answer.text
    assert client.v1.checkout.sessions.retrieve(session.id).payment_intent is None


def test_dispute_card_pays_then_opens_a_dispute(client: stripe.StripeClient,
                                                paid_session: PaidSession) -> None:
    session = paid_session(card="4000000000000259")
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    assert intent.status == "succeeded"
    dispute = client.v1.disputes.list(params={"charge": intent.latest_charge}).data[0]
    assert dispute.status == "needs_response"
    assert dispute.amount == 1500 and dispute.payment_intent == intent.id
    assert client.v1.charges.retrieve(intent.latest_charge).disputed is True


def test_paid_page_says_so_and_cannot_be_paid_twice(client: stripe.StripeClient,
                                                    paid_session: PaidSession, pay: Pay,
                                                    web: requests.Session) -> None:
    session = paid_session()
    again = pay(session, "4242424242424242")
    assert again.status_code == 200 and "already paid" in again.text
    assert len(client.v1.charges.list().data) == 1


def test_expire_through_the_api_then_page_says_expired(client: stripe.StripeClient,
                                                       new_session: NewSession, pay: Pay,
                                                       web: requests.Session) -> None:
    session = new_session()
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    page = web.get(session.url, timeout=10)
    assert page.status_code == 410 and "has expired" in page.text
    assert pay(session, "4242424242424242").status_code == 410
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.expire(session.id)
    assert caught.value.http_status == 400
    assert 'status of "expired"' in str(caught.value.user_message)


def test_clock_advance_expires_open_sessions(client: stripe.StripeClient,
                                             new_session: NewSession, server: ServerThread,
                                             web: requests.Session) -> None:
    short = new_session(expires_at=int(time.time()) + 1800)
    long = new_session()
    answer = web.post(f"{server.base_url}/__emulator__/clock/advance", json={"seconds": 1801},
                      timeout=10).json()
    assert answer["expired_sessions"] == [short.id]
    assert client.v1.checkout.sessions.retrieve(short.id).status == "expired"
    assert client.v1.checkout.sessions.retrieve(long.id).status == "open"
    assert "has expired" in web.get(short.url, timeout=10).text
    later = new_session()
    assert later.created >= int(time.time()) + 1801
    web.post(f"{server.base_url}/__emulator__/clock/advance", json={"seconds": 86400},
             timeout=10)
    assert client.v1.checkout.sessions.retrieve(long.id).status == "expired"


def test_expired_session_with_a_failed_attempt_cancels_its_intent(client: stripe.StripeClient,
                                                                  new_session: NewSession,
                                                                  pay: Pay) -> None:
    session = new_session()
    pay(session, "4000000000000002")
    client.v1.checkout.sessions.expire(session.id)
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    assert intent.status == "canceled" and intent.cancellation_reason == "abandoned"


def test_unknown_session_page_is_404(server: ServerThread, web: requests.Session) -> None:
    page = web.get(f"{server.base_url}/c/pay/cs_test_nope", timeout=10)
    assert page.status_code == 404 and "No such checkout session" in page.text


def test_control_pay_and_update_metadata(client: stripe.StripeClient, new_session: NewSession,
                                         server: ServerThread, web: requests.Session) -> None:
    session = new_session()
    updated = client.v1.checkout.sessions.update(session.id,
                                                 params={"metadata": {"note": "gift"}})
    assert updated.metadata.to_dict() == {"order_id": "42", "note": "gift"}
    answer = web.post(f"{server.base_url}/__emulator__/checkout/sessions/{session.id}/pay",
                      json={"card": "4000000000000002"}, timeout=10).json()
    assert answer["paid"] is False and answer["decline_code"] == "generic_decline"
    answer = web.post(f"{server.base_url}/__emulator__/checkout/sessions/{session.id}/pay",
                      json={"card": "4242424242424242"}, timeout=10).json()
    assert answer["paid"] is True
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_expand_line_items_and_in_lists(client: stripe.StripeClient, paid_session: PaidSession
        ) -> None:
    session = paid_session()
    fetched = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert fetched.line_items.data[0].price.unit_amount == 1500
    listed = client.v1.checkout.sessions.list(params={"expand": ["data.payment_intent"]})
    assert listed.data[0].payment_intent.status == "succeeded"


def test_api_key_is_not_needed_for_the_page(new_session: NewSession, web: requests.Session) -> None:
    session = new_session()
    page = web.get(session.url, timeout=10)
    assert page.status_code == 200
    assert API_KEY not in page.text
