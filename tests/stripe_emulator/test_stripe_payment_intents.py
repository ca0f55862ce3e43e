"""PaymentIntents confirmed through the API with Stripe's test payment methods (402 card errors)."""

from __future__ import annotations

import pytest
import stripe


def test_confirmed_with_pm_card_visa_succeeds(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={
        "amount": 990, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"order_id": "7"}, "expand": ["latest_charge"]})
    assert intent.id.startswith("pi_") and intent.status == "succeeded"
    assert intent.amount_received == 990
    assert intent.latest_charge.amount == 990 and intent.latest_charge.paid is True
    assert client.v1.refunds.create(params={"payment_intent": intent.id}).amount == 990


def test_declined_confirmation_is_a_402_card_error(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(params={
            "amount": 990, "currency": "usd", "confirm": True,
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds"})
    error = caught.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.json_body["error"]["type"] == "card_error"
    assert error.json_body["error"]["decline_code"] == "insufficient_funds"
    assert error.user_message == "Your card has insufficient funds."
    intent_id = error.json_body["error"]["payment_intent"]["id"]
    intent = client.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "requires_payment_method"
    confirmed = client.v1.payment_intents.confirm(intent_id,
                                                  params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.confirm(intent_id, params={"payment_method": "pm_card_visa"})
    assert again.value.code == "payment_intent_unexpected_state"


def test_card_error_is_replayed_for_the_same_idempotency_key(client: stripe.StripeClient) -> None:
    params = {"amount": 500, "currency": "eur", "confirm": True,
              "payment_method": "pm_card_chargeDeclined"}
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as caught:
            client.v1.payment_intents.create(params=params,  # type: ignore[arg-type]
                                             options={"idempotency_key": "same-card-error"})
        errors.append(caught.value)
    assert errors[0].json_body == errors[1].json_body
    assert errors[1].headers["Idempotent-Replayed"] == "true"
    assert len(client.v1.payment_intents.list().data) == 1


def test_dispute_payment_method_opens_a_dispute(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={
        "amount": 2000, "currency": "usd", "confirm": True,
        "payment_method": "pm_card_createDispute"})
    dispute = client.v1.disputes.list(params={"payment_intent": intent.id}).data[0]
    assert dispute.charge == intent.latest_charge and dispute.status == "needs_response"


def test_unknown_payment_method_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(params={"amount": 100, "currency": "usd",
                                                 "payment_method": "pm_nope"})
    assert caught.value.http_status == 404 and caught.value.param == "payment_method"
