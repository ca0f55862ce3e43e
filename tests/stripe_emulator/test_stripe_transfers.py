"""Separate charges and transfers: the platform's balance from its balance transactions,
transfers to Express accounts (refused without the transfers capability or the funds),
reversals, idempotency, and what the connected account sees through ``Stripe-Account``."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from .conftest import Control, Idle, PaidSession, Receiver

TRANSFER_FIELDS = set("""amount amount_reversed balance_transaction created currency description
destination destination_payment id livemode metadata object reversals reversed
source_transaction source_type transfer_group""".split())
REVERSAL_FIELDS = set("""amount balance_transaction created currency destination_payment_refund
id metadata object source_refund transfer""".split())
BALANCE_TRANSACTION_FIELDS = set("""amount available_on balance_type created currency
description exchange_rate fee fee_details id net object reporting_category source status
type""".split())
BYPASS_PENDING = "4000000000000077"


def usd(amount: int) -> dict[str, Any]:
    return {"line_items": [{"quantity": 1, "price_data": {
        "currency": "usd", "unit_amount": amount, "product_data": {"name": "Winter Pack"}}}]}


def onboarded(client: stripe.StripeClient, control: Control, **overrides: Any
              ) -> stripe.Account:
    params: dict[str, Any] = {"type": "express", "country": "US", "email": "artist@example.com",
                              "capabilities": {"transfers": {"requested": True}}}
    params.update(overrides)
    account = client.v1.accounts.create(params=params)  # type: ignore[arg-type]
    control("POST", f"/accounts/{account.id}/onboard")
    return account


def amounts(entries: list[Any]) -> dict[str, int]:
    return {entry.currency: entry.amount for entry in entries}


def charge_of(client: stripe.StripeClient, session: stripe.checkout.Session) -> stripe.Charge:
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    return client.v1.charges.retrieve(intent.latest_charge)


def test_charge_fee_and_balance_pending_then_available(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control) -> None:
    session = paid_session(**usd(2000))
    intent = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).payment_intent,
        params={"expand": ["latest_charge.balance_transaction"]})
    transaction = intent.latest_charge.balance_transaction
    assert (transaction.amount, transaction.fee, transaction.net) == (2000, 88, 1912)
    assert transaction.fee_details[0].type == "stripe_fee" and transaction.status == "pending"
    assert transaction.available_on == transaction.created + 2 * 86_400
    assert set(transaction.to_dict()) == BALANCE_TRANSACTION_FIELDS
    balance = client.v1.balance.retrieve()
    assert amounts(balance.available) == {"usd": 0} and amounts(balance.pending) == {"usd": 1912}
    control("POST", "/clock/advance", {"seconds": 2 * 86_400})
    balance = client.v1.balance.retrieve()
    assert amounts(balance.available) == {"usd": 1912} and amounts(balance.pending) == {"usd": 0}
    assert client.v1.balance_transactions.retrieve(transaction.id).status == "available"
    # The bypass-pending test card's funds are available at once; refunds come off at once.
    quick = charge_of(client, paid_session(card=BYPASS_PENDING, **usd(1000)))
    assert client.v1.balance_transactions.retrieve(quick.balance_transaction).status == (
        "available")
    client.v1.refunds.create(params={"charge": quick.id, "amount": 300})
    assert amounts(client.v1.balance.retrieve().available) == {"usd": 1912 + 941 - 300}


def test_transfer_moves_available_funds_to_the_account(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control,
        receiver: Receiver, endpoint: stripe.WebhookEndpoint, idle: Idle) -> None:
    paid_session(card=BYPASS_PENDING, **usd(5000))                      # net 4825
    account = onboarded(client, control)
    transfer = client.v1.transfers.create(params={
        "amount": 1234, "currency": "usd", "destination": account.id,
        "description": "Payout for November", "transfer_group": "payout-2026-11",
        "metadata": {"artist_id": "7", "run": "3"}})
    assert transfer.id.startswith("tr_") and transfer.object == "transfer"
    assert (transfer.amount, transfer.currency, transfer.destination) == (1234, "usd", account.id)
    assert transfer.amount_reversed == 0 and transfer.reversed is False
    assert transfer.metadata.to_dict() == {"artist_id": "7", "run": "3"}
    assert transfer.destination_payment.startswith("py_")
    assert set(transfer.to_dict()) == TRANSFER_FIELDS
    moved = client.v1.balance_transactions.retrieve(transfer.balance_transaction)
    assert (moved.type, moved.amount, moved.fee, moved.net, moved.source) == (
        "transfer", -1234, 0, -1234, transfer.id)
    assert amounts(client.v1.balance.retrieve().available) == {"usd": 4825 - 1234}
    theirs = client.v1.balance.retrieve(options={"stripe_account": account.id})
    assert amounts(theirs.available) == {"usd": 1234}
    [payment] = client.v1.balance_transactions.list(options={"stripe_account": account.id}).data
    assert (payment.type, payment.amount, payment.source) == (
        "payment", 1234, transfer.destination_payment)
    assert payment.id not in [t.id for t in client.v1.balance_transactions.list().data]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.balance_transactions.retrieve(payment.id)
    assert client.v1.transfers.retrieve(transfer.id).id == transfer.id
    other = onboarded(client, control)
    client.v1.transfers.create(params={"amount": 100, "currency": "usd",
                                       "destination": other.id})
    assert [t.id for t in client.v1.transfers.list(params={"destination": account.id}).data] == [
        transfer.id]
    assert len(client.v1.transfers.list().data) == 2
    listed = control("GET", f"/accounts/{account.id}/transfers")
    assert [t["id"] for t in listed["transfers"]] == [transfer.id] and listed["total"] == 1234
    updated = client.v1.transfers.update(transfer.id, params={"description": "November"})
    assert updated.description == "November"
    idle()
    types = receiver.types()
    assert types.count("transfer.created") == 2 and "transfer.updated" in types
    assert "account.updated" not in types                 # a platform endpoint


def test_transfers_refused_without_capability_or_funds(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control) -> None:
    paid_session(**usd(5000))                                           # pending only
    account = onboarded(client, control)
    with pytest.raises(stripe.InvalidRequestError) as short:
        client.v1.transfers.create(params={"amount": 100, "currency": "usd",
                                           "destination": account.id})
    assert short.value.http_status == 400 and short.value.code == "balance_insufficient"
    assert short.value.json_body["error"]["type"] == "invalid_request_error"
    control("POST", "/balance/available")
    client.v1.transfers.create(params={"amount": 4825, "currency": "usd",
                                       "destination": account.id})
    with pytest.raises(stripe.InvalidRequestError) as empty:
        client.v1.transfers.create(params={"amount": 1, "currency": "usd",
                                           "destination": account.id})
    assert empty.value.code == "balance_insufficient"
    with pytest.raises(stripe.InvalidRequestError) as euros:
        client.v1.transfers.create(params={"amount": 1, "currency": "eur",
                                           "destination": account.id})
    assert euros.value.code == "balance_insufficient"
    fresh = client.v1.accounts.create(params={
        "type": "express", "capabilities": {"transfers": {"requested": True}}})
    paid_session(card=BYPASS_PENDING, **usd(1000))
    with pytest.raises(stripe.InvalidRequestError) as capability:
        client.v1.transfers.create(params={"amount": 100, "currency": "usd",
                                           "destination": fresh.id})
    assert capability.value.code == "insufficient_capabilities_for_transfer"
    assert "transfers" in str(capability.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.transfers.create(params={"amount": 100, "currency": "usd",
                                           "destination": "acct_nosuchaccount"})
    assert "No such destination: 'acct_nosuchaccount'" in str(unknown.value.user_message)
    assert unknown.value.param == "destination"
    with pytest.raises(stripe.InvalidRequestError) as zero:
        client.v1.transfers.create(params={"amount": 0, "currency": "usd",
                                           "destination": account.id})
    assert zero.value.param == "amount"
    control("POST", f"/accounts/{account.id}/restrict")
    with pytest.raises(stripe.InvalidRequestError) as restricted:
        client.v1.transfers.create(params={"amount": 100, "currency": "usd",
                                           "destination": account.id})
    assert restricted.value.code == "insufficient_capabilities_for_transfer"
    assert len(client.v1.transfers.list().data) == 1


def test_transfer_from_a_pending_charge_with_source_transaction(
        client: stripe.StripeClient, paid_session: PaidSession, control: Control) -> None:
    charge = charge_of(client, paid_session(**usd(3000)))
    account = onboarded(client, control)
    first = client.v1.transfers.create(params={
        "amount": 2000, "currency": "usd", "destination": account.id,
        "source_transaction": charge.id})
    assert first.source_transaction == charge.id
    assert first.transfer_group == f"group_{charge.payment_intent}"
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.transfers.create(params={"amount": 1001, "currency": "usd",
                                           "destination": account.id,
                                           "source_transaction": charge.id})
    assert over.value.param == "amount"
    theirs = client.v1.balance.retrieve(options={"stripe_account": account.id})
    assert amounts(theirs.pending) == {"usd": 2000} and amounts(theirs.available) == {"usd": 0}
    with pytest.raises(stripe.InvalidRequestError) as intent:
        client.v1.transfers.create(params={"amount": 100, "currency": "usd",
                                           "destination": account.id,
                                           "source_transaction": charge.payment_intent})
    assert intent.value.param == "source_transaction"


def test_reversals_partial_then_full(client: stripe.StripeClient, paid_session: PaidSession,
                                     control: Control, receiver: Receiver,
                                     endpoint: stripe.WebhookEndpoint, idle: Idle) -> None:
    paid_session(card=BYPASS_PENDING, **usd(5000))
    account = onboarded(client, control)
    transfer = client.v1.transfers.create(params={"amount": 1000, "currency": "usd",
                                                  "destination": account.id})
    part = client.v1.transfers.reversals.create(transfer.id, params={
        "amount": 400, "metadata": {"reason": "refund of order 9"}})
    assert part.id.startswith("trr_") and part.object == "transfer_reversal"
    assert (part.amount, part.transfer, part.currency) == (400, transfer.id, "usd")
    assert set(part.to_dict()) == REVERSAL_FIELDS
    back = client.v1.balance_transactions.retrieve(part.balance_transaction)
    assert (back.type, back.amount) == ("transfer_refund", 400)
    after = client.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (400, False)
    assert [r.id for r in after.reversals.data] == [part.id]
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 601})
    assert too_much.value.param == "amount"
    rest = client.v1.transfers.reversals.create(transfer.id)
    assert rest.amount == 600
    assert client.v1.transfers.retrieve(transfer.id).reversed is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(transfer.id)
    listed = client.v1.transfers.reversals.list(transfer.id)
    assert [r.id for r in listed.data] == [rest.id, part.id]
    assert client.v1.transfers.reversals.retrieve(transfer.id, part.id).amount == 400
    acting = {"stripe_account": account.id}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.retrieve(transfer.id, part.id, options=acting)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.retrieve(transfer.id, options=acting)
    assert client.v1.transfers.list(options=acting).data == []
    assert amounts(client.v1.balance.retrieve().available) == {"usd": 4825}
    assert amounts(client.v1.balance.retrieve(
        options={"stripe_account": account.id}).available) == {"usd": 0}
    idle()
    assert receiver.types().count("transfer.reversed") == 2


def test_idempotent_transfer_is_made_once(client: stripe.StripeClient,
                                          paid_session: PaidSession, control: Control) -> None:
    paid_session(card=BYPASS_PENDING, **usd(5000))
    account = onboarded(client, control)
    params: dict[str, Any] = {"amount": 700, "currency": "usd", "destination": account.id,
                              "metadata": {"artist_id": "7"}}
    key = {"idempotency_key": "payout:3:artist:7"}
    first = client.v1.transfers.create(params=params, options=key)  # type: ignore[arg-type]
    again = client.v1.transfers.create(params=params, options=key)  # type: ignore[arg-type]
    assert again.id == first.id
    assert len(client.v1.transfers.list(params={"destination": account.id}).data) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.transfers.create(params={**params, "amount": 800},  # type: ignore[arg-type]
                                   options=key)
    # A refusal for lack of funds is replayed too, once the request began.
    short = {"idempotency_key": "payout:3:artist:8"}
    big = {**params, "amount": 10_000}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.transfers.create(params=big, options=short)  # type: ignore[arg-type]
        assert caught.value.code == "balance_insufficient"


def test_funds_pending_setting_and_state_survive_a_restart(tmp_path: Any) -> None:
    from emulator_common import ServerThread
    from stripe_emulator import Settings, create_app

    from .conftest import API_KEY

    def serve() -> Any:
        return create_app(tmp_path, settings=Settings(funds_pending=0))

    app = serve()
    with ServerThread(app) as server, requests.Session() as http:
        http.trust_env = False
        client = stripe.StripeClient(API_KEY, base_addresses={"api": server.base_url},
                                     http_client=stripe.RequestsClient(session=http),
                                     max_network_retries=0)
        session = client.v1.checkout.sessions.create(params={
            "mode": "payment", "success_url": "http://shop.test/ok", **usd(1000)})
        assert http.post(session.url, data={"cardnumber": "4242424242424242"},
                         allow_redirects=False, timeout=10).status_code == 303
        account = client.v1.accounts.create(params={
            "type": "express", "capabilities": {"transfers": {"requested": True}}})
        http.post(f"{server.base_url}/__emulator__/accounts/{account.id}/onboard", timeout=10)
        transfer = client.v1.transfers.create(params={"amount": 941, "currency": "usd",
                                                      "destination": account.id})
    app.extensions["stripe_emulator"].close()
    again = serve()
    emulator = again.extensions["stripe_emulator"]
    try:
        assert emulator.transfers[transfer.id]["amount"] == 941
        assert emulator.balance(None)["available"][0]["amount"] == 0
        assert emulator.balance(account.id)["available"][0]["amount"] == 941
        assert emulator.accounts[account.id]["payouts_enabled"] is True
    finally:
        emulator.close()
