"""Parsing what a buyer types into the price box into integer cents, strictly."""

from __future__ import annotations

import re

from shop.formatting import money
from shop.money import plain_cents


class AmountError(ValueError):
    """The amount is unacceptable; ``str(exc)`` is a message for the buyer."""


def parse_amount(raw: str | None, *, minimum_cents: int, maximum_cents: int, currency: str = "USD") -> int:
    """Turn ``"12.50"`` into ``1250``, enforcing the pack's minimum and the store's cap.

    :raises AmountError: with a message fit for the form.
    """
    text = (raw or "").strip()
    if not text:
        raise AmountError("Enter how much you want to pay.")
    if text.startswith("-"):
        raise AmountError("The amount cannot be negative.")
    cents = plain_cents(text)
    if cents is None:
        if re.fullmatch(r"[0-9]*\.[0-9]{3,}", text):
            raise AmountError("Use at most two decimal places, like 12.50.")
        raise AmountError("Enter the amount as a number, like 12.50.")
    if cents == 0 and minimum_cents > 0:
        raise AmountError(f"This pack costs at least {money(minimum_cents, currency)}.")
    if cents < minimum_cents:
        raise AmountError(f"The minimum for this pack is {money(minimum_cents, currency)}.")
    if cents > maximum_cents:
        raise AmountError(f"The most we accept is {money(maximum_cents, currency)}. Thank you, though!")
    return cents
