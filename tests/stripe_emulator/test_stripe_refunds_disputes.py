"""Refunds (full, partial, over the limit) and disputes (opened by the card, closed by control)."""

from __future__ import annotations

import pytest
import requests
import stripe

from emulator_common import ServerThread

from .conftest import NewSession, PaidSession, Pay

REFUND_FIELDS = set("""amount balance_transaction charge created currency customer
customer_account destination_details id metadata object payment_intent payment_method reason
receipt_number source_transfer_reversal status transfer_reversal""".split())
DISPUTE_FIELDS = set("""amount balance_transactions charge created currency
enhanced_eligibility_types evidence evidence_details id is_charge_refundable livemode metadata
object payment_intent payment_method_details reason status""".split())



def intent_of(client: stripe.StripeClient, session: stripe.checkout.Session) -> stripe.PaymentIntent:
    return client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent)


def test_full_refund_by_payment_intent(client: stripe.StripeClient, paid_session: PaidSession
        ) -> None:
    intent = intent_of(client, paid_session())
    refund = client.v1.refunds.create(params={"payment_intent": intent.id,
                                              "reason": "requested_by_customer",
                                              "metadata": {"order_id": "42"}})
    assert refund.id.startswith("re_") and refund.object == "refund"
    assert refund.status == "succeeded"
    assert refund.amount == 1500 and refund.currency == "eur"
    assert refund.charge == intent.latest_charge and refund.payment_intent == intent.id
    assert refund.reason == "requested_by_customer"
    assert refund.metadata.to_dict() == {"order_id": "42"}
    body = client.deserialize(client.raw_request("get", f"/v1/refunds/{refund.id}"), api_mode="V1")
    assert set(body.to_dict()) == REFUND_FIELDS
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.amount_refunded == 1500 and charge.refunded is True
    assert [r.id for r in charge.refunds.data] == [refund.id]


def test_partial_refunds_then_the_limit(client: stripe.StripeClient, paid_session: PaidSession
        ) -> None:
    intent = intent_of(client, paid_session())
    first = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    second = client.v1.refunds.create(params={"charge": intent.latest_charge, "amount": 700})
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.amount_refunded == 1200 and charge.refunded is False
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 301})
    assert caught.value.http_status == 400
    assert caught.value.code == "amount_too_large" and caught.value.param == "amount"
    assert "3.01 EUR" in str(caught.value.user_message)
    assert "3.00 EUR" in str(caught.value.user_message)
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 300
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert caught.value.code == "charge_already_refunded"
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})
    assert [r.id for r in listed.data] == [rest.id, second.id, first.id]
    assert client.v1.refunds.retrieve(first.id).amount == 500
    assert client.v1.charges.retrieve(intent.latest_charge).refunded is True


@pytest.mark.parametrize(("params", "param", "code"), [
    ({}, None, "parameter_missing"),
    ({"payment_intent": "pi_nope"}, "payment_intent", "resource_missing"),
    ({"charge": "ch_nope"}, "charge", "resource_missing"),
    ({"amount": "0"}, "amount", "parameter_invalid_integer"),
    ({"reason": "changed_mind"}, "reason", "parameter_invalid_empty"),
])
def test_refund_param_errors(client: stripe.StripeClient, params: dict, param: str | None,
                             code: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params=params)  # type: ignore[arg-type]
    assert caught.value.code == code and caught.value.param == param


def test_unpaid_intent_cannot_be_refunded(client: stripe.StripeClient, new_session: NewSession,
                                          pay: Pay) -> None:
    session = new_session()
    pay(session, "4000000000000002")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent_of(client, session).id})
    assert caught.value.code == "charge_not_refundable"


def test_refund_metadata_update(client: stripe.StripeClient, paid_session: PaidSession) -> None:
    intent = intent_of(client, paid_session())
    refund = client.v1.refunds.create(params={"payment_intent": intent.id})
    updated = client.v1.refunds.update(refund.id, params={"metadata": {"ticket": "T-9",
                                                                      "by": "ops"}})
    assert updated.metadata.to_dict() == {"ticket": "T-9", "by": "ops"}
    unset_one = client.v1.refunds.update(refund.id, params={"metadata": {"by": ""}})
    assert unset_one.metadata.to_dict() == {"ticket": "T-9"}
    unset_all = client.v1.refunds.update(refund.id, params={"metadata": ""})
    assert unset_all.metadata.to_dict() == {}


def test_dispute_is_retrievable_with_its_charge_expanded(client: stripe.StripeClient,
                                                         paid_session: PaidSession) -> None:
    intent = intent_of(client, paid_session(card="4000000000000259"))
    dispute = client.v1.disputes.list().data[0]
    fetched = client.v1.disputes.retrieve(dispute.id, params={"expand": ["charge"]})
    assert fetched.id.startswith("dp_") and fetched.object == "dispute"
    assert fetched.charge.id == intent.latest_charge
    assert fetched.reason == "fraudulent"
    body = client.deserialize(client.raw_request("get", f"/v1/disputes/{dispute.id}"),
                              api_mode="V1")
    assert set(body.to_dict()) == DISPUTE_FIELDS
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert caught.value.code == "charge_disputed"


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_control_closes_a_dispute(client: stripe.StripeClient, paid_session: PaidSession,
                                  server: ServerThread, web: requests.Session, outcome: str
        ) -> None:
    paid_session(card="4000000000000259")
    dispute = client.v1.disputes.list().data[0]
    answer = web.post(f"{server.base_url}/__emulator__/disputes/{dispute.id}/close",
                      json={"outcome": outcome}, timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == outcome
    assert client.v1.disputes.retrieve(dispute.id).status == outcome
    again = web.post(f"{server.base_url}/__emulator__/disputes/{dispute.id}/close",
                     json={"outcome": outcome}, timeout=10)
    assert again.status_code == 400 and "already" in again.json()["error"]
    bad = web.post(f"{server.base_url}/__emulator__/disputes/{dispute.id}/close",
                   json={"outcome": "draw"}, timeout=10)
    assert bad.status_code == 400
    missing = web.post(f"{server.base_url}/__emulator__/disputes/dp_nope/close",
                       json={"outcome": "won"}, timeout=10)
    assert missing.status_code == 404


def test_control_opens_a_dispute_on_any_paid_charge(client: stripe.StripeClient,
                                                    paid_session: PaidSession,
                                                    server: ServerThread, web: requests.Session
        ) -> None:
    intent = intent_of(client, paid_session())
    opened = web.post(f"{server.base_url}/__emulator__/disputes",
                      json={"charge": intent.latest_charge, "reason": "product_not_received"},
                      timeout=10).json()
    assert opened["status"] == "needs_response" and opened["reason"] == "product_not_received"
    assert client.v1.charges.retrieve(intent.latest_charge).disputed is True


def test_won_dispute_allows_a_refund_again(client: stripe.StripeClient,
                                           paid_session: PaidSession, server: ServerThread,
                                           web: requests.Session) -> None:
    intent = intent_of(client, paid_session(card="4000000000000259"))
    dispute = client.v1.disputes.list().data[0]
    web.post(f"{server.base_url}/__emulator__/disputes/{dispute.id}/close",
             json={"outcome": "won"}, timeout=10)
    assert client.v1.refunds.create(params={"payment_intent": intent.id}).amount == 1500


def test_control_fails_a_refund_and_the_charge_gets_the_amount_back(
        client: stripe.StripeClient, paid_session: PaidSession, server: ServerThread,
        web: requests.Session) -> None:
    intent = intent_of(client, paid_session())
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 400})
    failed = web.post(f"{server.base_url}/__emulator__/refunds/{refund.id}/fail", timeout=10)
    assert failed.status_code == 200 and failed.json()["status"] == "failed"
    assert client.v1.refunds.retrieve(refund.id).status == "failed"
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.amount_refunded == 0 and charge.refunded is False
    types = [e.type for e in client.v1.events.list(params={"limit": 3}).data]
    assert types == ["charge.refund.updated", "refund.updated", "charge.refunded"]
    again = web.post(f"{server.base_url}/__emulator__/refunds/{refund.id}/fail", timeout=10)
    assert again.status_code == 400
