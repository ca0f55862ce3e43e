"""Money as integer cents: read from plain decimal text only, and averaged without floats.

One grammar for every amount a person types, the buyer's price and the operator's pack
prices alike: ASCII digits, at most nine before the point and two after it, nothing else
(no signs, exponents, separators, symbols, NaN or other scripts' digits). Each caller
words its own error messages.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

PLAIN_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?|\.[0-9]{1,2}")


def plain_cents(text: str) -> int | None:
    """``"12.50"`` → ``1250``; ``None`` when ``text`` (stripped) is not a plain amount."""
    stripped = text.strip()
    if not PLAIN_AMOUNT.fullmatch(stripped):
        return None
    return int(Decimal(stripped) * 100)


def average_cents(total_cents: int, count: int) -> int:
    """``total_cents / count`` rounded half up to the cent (``0`` for no items).

    Decimal on the integer minor units, never a float: ``average_cents(1001, 2)`` is ``501``
    (500.5 rounds up), ``average_cents(-1001, 2)`` is ``-501`` (half away from zero).
    """
    if count <= 0:
        return 0
    return int((Decimal(total_cents) / Decimal(count)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
