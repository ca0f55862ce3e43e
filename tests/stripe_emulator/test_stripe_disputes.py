"""The dispute lifecycle (inquiries, chargebacks, prevented) and the balance transactions that
charges, refunds and disputes leave."""

from __future__ import annotations

import pytest
import requests
import stripe

from emulator_common import ServerThread

from .conftest import Control, Idle, PaidSession, Receiver


def charge_of(client: stripe.StripeClient, session: stripe.checkout.Session) -> stripe.Charge:
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    return client.v1.charges.retrieve(intent.latest_charge)


@pytest.mark.parametrize(("currency", "amount", "fee"), [
    ("usd", 1000, 29 + 30), ("eur", 1500, 44 + 30), ("jpy", 1000, 29),
])
def test_each_charge_has_a_balance_transaction_with_the_fee(
        client: stripe.StripeClient, paid_session: PaidSession, currency: str, amount: int,
        fee: int) -> None:
    session = paid_session(line_items=[{"quantity": 1, "price_data": {
        "currency": currency, "unit_amount": amount, "product_data": {"name": "Pack"}}}])
    charge = charge_of(client, session)
    transaction = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (transaction.type, transaction.reporting_category) == ("charge", "charge")
    assert (transaction.amount, transaction.fee, transaction.net) == (amount, fee, amount - fee)
    assert transaction.source == charge.id and transaction.currency == currency
    assert [d.type for d in transaction.fee_details] == ["stripe_fee"]
    expanded = client.v1.charges.retrieve(charge.id, params={"expand": ["balance_transaction"]})
    assert expanded.balance_transaction.id == transaction.id


def test_a_refund_has_a_negative_balance_transaction(client: stripe.StripeClient,
                                                     paid_session: PaidSession) -> None:
    charge = charge_of(client, paid_session())
    refund = client.v1.refunds.create(params={"charge": charge.id, "amount": 500})
    transaction = client.v1.balance_transactions.retrieve(refund.balance_transaction)
    assert (transaction.type, transaction.amount, transaction.fee) == ("refund", -500, 0)
    assert transaction.source == refund.id


def test_chargeback_withdraws_then_reinstates_when_won(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control, idle: Idle,
        receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    paid_session(card="4000000000000259")
    dispute = client.v1.disputes.list().data[0]
    assert dispute.status == "needs_response" and dispute.is_charge_refundable is False
    [withdrawn] = dispute.balance_transactions
    assert (withdrawn.amount, withdrawn.fee, withdrawn.net) == (-1500, 1500, -3000)
    assert withdrawn.reporting_category == "dispute" and withdrawn.source == dispute.id
    assert client.v1.balance_transactions.retrieve(withdrawn.id).amount == -1500
    assert control("POST", f"/disputes/{dispute.id}/status",
                   {"status": "under_review"})["status"] == "under_review"
    control("POST", f"/disputes/{dispute.id}/close", {"outcome": "won"})
    idle()
    assert [t for t in receiver.types() if t.startswith("charge.dispute")] == [
        "charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.updated",
        "charge.dispute.closed", "charge.dispute.funds_reinstated"]
    won = client.v1.disputes.retrieve(dispute.id)
    assert won.status == "won" and won.evidence_details.submission_count == 1
    assert [(t.amount, t.reporting_category) for t in won.balance_transactions] == [
        (-1500, "dispute"), (1500, "dispute_reversal")]
    reinstated = receiver.received[-1].event["data"]["object"]
    assert len(reinstated["balance_transactions"]) == 2


def test_lost_chargeback_keeps_the_money_withdrawn(client: stripe.StripeClient,
                                                   paid_session: PaidSession,
                                                   control: Control) -> None:
    paid_session(card="4000000000002685")
    dispute = client.v1.disputes.list().data[0]
    assert dispute.reason == "product_not_received"
    control("POST", f"/disputes/{dispute.id}/close", {"outcome": "lost"})
    lost = client.v1.disputes.retrieve(dispute.id)
    assert lost.status == "lost" and len(lost.balance_transactions) == 1


def test_inquiry_moves_no_money_and_closes_as_a_warning(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control, idle: Idle,
        receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    session = paid_session(card="4000000000001976")
    dispute = client.v1.disputes.list().data[0]
    assert dispute.status == "warning_needs_response"
    assert dispute.is_charge_refundable is True and dispute.balance_transactions == []
    assert dispute.payment_method_details.card.case_type == "inquiry"
    control("POST", f"/disputes/{dispute.id}/status", {"status": "warning_under_review"})
    control("POST", f"/disputes/{dispute.id}/close", {"outcome": "warning_closed"})
    idle()
    assert [t for t in receiver.types() if t.startswith("charge.dispute")] == [
        "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"]
    closed = client.v1.disputes.retrieve(dispute.id)
    assert closed.status == "warning_closed" and closed.balance_transactions == []
    # An inquiry does not stop a refund.
    refund = client.v1.refunds.create(params={"charge": charge_of(client, session).id})
    assert refund.status == "succeeded"


def test_inquiry_escalates_to_a_chargeback(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control, idle: Idle,
        receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    paid_session(card="4000000000001976")
    dispute = client.v1.disputes.list().data[0]
    control("POST", f"/disputes/{dispute.id}/status", {"status": "needs_response"})
    idle()
    assert receiver.types()[-2:] == ["charge.dispute.updated", "charge.dispute.funds_withdrawn"]
    escalated = client.v1.disputes.retrieve(dispute.id)
    assert escalated.status == "needs_response" and escalated.is_charge_refundable is False
    assert escalated.payment_method_details.card.case_type == "chargeback"
    assert len(escalated.balance_transactions) == 1


def test_prevented_dispute_returns_the_money_without_a_fee(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control,
        server: ServerThread, web: requests.Session, idle: Idle, receiver: Receiver, endpoint: stripe.WebhookEndpoint
        ) -> None:
    charge = charge_of(client, paid_session())
    dispute = control("POST", "/disputes", {"charge": charge.id, "status": "prevented"})
    assert dispute["status"] == "prevented"
    assert [(t["amount"], t["fee"]) for t in dispute["balance_transactions"]] == [(-1500, 0)]
    idle()
    assert receiver.types()[-2:] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": charge.id})
    assert caught.value.code == "charge_disputed"
    refused = web.post(f"{server.base_url}/__emulator__/disputes/{dispute['id']}/status",
                            json={"status": "won"}, timeout=10)
    assert refused.status_code == 400 and "already prevented" in refused.json()["error"]


@pytest.mark.parametrize(("card", "status"), [
    ("4000000000000259", "warning_closed"), ("4000000000000259", "warning_under_review"),
    ("4000000000001976", "won"), ("4000000000001976", "nonsense"),
])
def test_impossible_steps_are_refused(client: stripe.StripeClient,
                                      paid_session: PaidSession, server: ServerThread,
                                      web: requests.Session, card: str,
                                      status: str) -> None:
    paid_session(card=card)
    dispute = client.v1.disputes.list().data[0]
    answer = web.post(f"{server.base_url}/__emulator__/disputes/{dispute.id}/status",
                           json={"status": status}, timeout=10)
    assert answer.status_code == 400 and "can move to" in answer.json()["error"]
    assert client.v1.disputes.retrieve(dispute.id).status == dispute.status
