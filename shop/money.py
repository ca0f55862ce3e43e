"""Money as integers in the currency's minor unit: read from plain decimal text only, and averaged
without floats.

One grammar for every amount a person types, the buyer's price and the operator's pack
prices alike: ASCII digits, at most nine before the point and as many after it as the
currency has decimals (:mod:`shop.currencies`), nothing else (no signs, exponents,
separators, symbols, NaN or other scripts' digits). Each caller words its own error messages.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from shop.currencies import parse_minor


def plain_cents(text: str, currency: str = "USD") -> int | None:
    """``"12.50"`` → ``1250`` (``"500", "JPY"`` → ``500``); ``None`` when ``text`` (stripped)
    is not a plain amount in ``currency``.

    :raises shop.currencies.UnknownCurrency: for a currency the store cannot scale.
    """
    return parse_minor(text, currency)


def average_cents(total_cents: int, count: int) -> int:
    """``total_cents / count`` rounded half up to the minor unit (``0`` for no items).

    Decimal on the integer minor units, never a float: ``average_cents(1001, 2)`` is ``501``
    (500.5 rounds up), ``average_cents(-1001, 2)`` is ``-501`` (half away from zero).
    """
    if count <= 0:
        return 0
    return int((Decimal(total_cents) / Decimal(count)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
