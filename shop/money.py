"""Money as integer cents, read from plain decimal text only.

One grammar for every amount a person types, the buyer's price and the operator's pack
prices alike: ASCII digits, at most nine before the point and two after it, nothing else
(no signs, exponents, separators, symbols, NaN or other scripts' digits). Each caller
words its own error messages.
"""

from __future__ import annotations

import re
from decimal import Decimal

PLAIN_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?|\.[0-9]{1,2}")


def plain_cents(text: str) -> int | None:
    """``"12.50"`` → ``1250``; ``None`` when ``text`` (stripped) is not a plain amount."""
    stripped = text.strip()
    if not PLAIN_AMOUNT.fullmatch(stripped):
        return None
    return int(Decimal(stripped) * 100)
