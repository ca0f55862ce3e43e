"""Parsing what a buyer types into the price box into the currency's minor unit, strictly."""

from __future__ import annotations

import re

from shop.currencies import example, get_currency, stripe_refusal
from shop.formatting import money
from shop.money import plain_cents


class AmountError(ValueError):
    """The amount is unacceptable; ``str(exc)`` is a message for the buyer."""


def parse_amount(raw: str | None, *, minimum_cents: int, maximum_cents: int, currency: str = "USD") -> int:
    """Turn ``"12.50"`` into ``1250`` (``"500"`` JPY into ``500``), enforcing the pack's minimum,
    the store's cap and what Stripe can charge in ``currency`` (its minimum, its steps).

    :raises AmountError: with a message fit for the form.
    """
    text = (raw or "").strip()
    if not text:
        raise AmountError("Enter how much you want to pay.")
    if text.startswith("-"):
        raise AmountError("The amount cannot be negative.")
    cents = plain_cents(text, currency)
    if cents is None:
        decimals = get_currency(currency).exponent
        if re.fullmatch(rf"[0-9]*\.[0-9]{{{decimals + 1},}}", text) or (decimals == 0 and "." in text):
            if decimals == 0:
                raise AmountError(f"Amounts in {currency} are whole numbers, like {example(currency)}.")
            words = {1: "one", 2: "two", 3: "three"}
            raise AmountError(f"Use at most {words[decimals]} decimal places, like {example(currency)}.")
        raise AmountError(f"Enter the amount as a number, like {example(currency)}.")
    if cents == 0 and minimum_cents > 0:
        raise AmountError(f"This pack costs at least {money(minimum_cents, currency)}.")
    if cents < minimum_cents:
        raise AmountError(f"The minimum for this pack is {money(minimum_cents, currency)}.")
    if cents > maximum_cents:
        raise AmountError(f"The most we accept is {money(maximum_cents, currency)}. Thank you, though!")
    refusal = stripe_refusal(cents, currency)
    if refusal is not None:
        found = get_currency(currency)
        if found.minimum is not None and cents < found.minimum:
            raise AmountError(f"The smallest payment our card processor takes in {currency} is "
                              f"{money(found.minimum, currency)}.")
        if cents % found.step:
            raise AmountError(f"Amounts in {currency} go in steps of {money(found.step, currency)}.")
        raise AmountError(f"The most we accept is {money(maximum_cents, currency)}. Thank you, though!")
    return cents
