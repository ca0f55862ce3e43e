"""Stripe's test cards and test PaymentMethod ids, and what each one does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    """A test card: ``failure`` is ``(code, decline_code, message)``; ``dispute`` a reason
    (``inquiry``: the dispute starts as an inquiry); ``three_d_secure``: the issuer asks the
    buyer to authenticate every payment."""

    failure: tuple[str, str, str] | None = None
    dispute: str | None = None
    inquiry: bool = False
    three_d_secure: bool = False
    #: The funds skip the pending period and are available at once.
    bypass_pending: bool = False


CARDS: dict[str, Card] = {
    "4242424242424242": Card(),
    "4000000000000259": Card(dispute="fraudulent"),
    "4000000000002685": Card(dispute="product_not_received"),
    "4000000000001976": Card(dispute="fraudulent", inquiry=True),
    "4000000000000002": Card(("card_declined", "generic_decline", "Your card was declined.")),
    "4000000000009995": Card(("card_declined", "insufficient_funds",
                              "Your card has insufficient funds.")),
    "4000000000009987": Card(("card_declined", "lost_card", "Your card was declined.")),
    "4000000000000069": Card(("expired_card", "expired_card", "Your card has expired.")),
    "4000002760003184": Card(three_d_secure=True),
    "4000000000000077": Card(bypass_pending=True),
}

#: Stripe's test PaymentMethod ids, for PaymentIntents confirmed through the API.
TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_bypassPending": "4000000000000077",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_createDisputeProductNotReceived": "4000000000002685",
    "pm_card_createDisputeInquiry": "4000000000001976",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
}


def luhn_valid(number: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
