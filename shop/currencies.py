"""The currencies the store sells in, scaled as Stripe scales them.

Every amount the store keeps is an integer in the currency's minor unit *as Stripe counts
it*, so an amount crosses to Stripe and back unchanged; what differs per currency is how
many decimals a person types and reads, which amounts Stripe accepts, and the smallest
charge. Facts from Stripe's "Supported currencies" page (docs.stripe.com/currencies):

* most currencies have two decimals (1000 is 10.00);
* zero-decimal currencies take whole units (500 is 500 JPY);
* three-decimal currencies take thousandths, and Stripe's payment partners need the last
  digit to be 0 (5.120 KWD is 5120; 5.124 is refused);
* ISK stays two-decimal in the API but charges whole krónur only (multiples of 100);
* a charge has a per-currency minimum (``amount_too_small`` below it) where Stripe
  publishes one, and no amount may exceed 99,999,999 minor units.

A currency that is not in :data:`CURRENCIES` is one the store does not know how to scale,
so packs cannot be sold in it. Where Stripe publishes no fixed minimum (it depends on the
conversion to the account's settlement currency), ``minimum`` is ``None`` and Stripe's own
``amount_too_small`` answer is what the buyer sees as a form error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

#: Stripe's cap on any amount, in minor units.
STRIPE_MAXIMUM = 99_999_999


@dataclass(frozen=True)
class Currency:
    """How Stripe counts one currency.

    :param exponent: decimals in a typed amount (minor units per unit: ``10 ** exponent``).
    :param step: Stripe charges only multiples of this many minor units.
    :param minimum: Stripe's published minimum charge, in minor units (``None``: not published).
    """

    code: str
    exponent: int = 2
    step: int = 1
    minimum: int | None = None

    @property
    def per_unit(self) -> int:
        return int(10**self.exponent)

    @property
    def typed_decimals(self) -> int:
        """Decimals that can carry a digit other than 0 (KWD: 2, since the third is always 0)."""
        decimals, step = self.exponent, self.step
        while step % 10 == 0 and decimals > 0:
            decimals, step = decimals - 1, step // 10
        return decimals


def _table() -> dict[str, Currency]:
    # Minimums published by Stripe, in each currency's minor unit.
    minimums = {
        "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
        "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000,
        "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50, "THB": 1000,
    }
    zero_decimal = ("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV",
                    "XAF", "XOF", "XPF")
    three_decimal = ("BHD", "JOD", "KWD", "OMR", "TND")
    other_two_decimal = ("CNY", "IDR", "ILS", "PHP", "TRY", "TWD", "ZAR")
    table: dict[str, Currency] = {}
    for code in (*minimums, *other_two_decimal):
        table[code] = Currency(code, 2, 1, minimums.get(code))
    for code in zero_decimal:
        table[code] = Currency(code, 0, 1, minimums.get(code))
    for code in three_decimal:
        table[code] = Currency(code, 3, 10, None)
    table["ISK"] = Currency("ISK", 2, 100, None)
    return table


CURRENCIES: dict[str, Currency] = _table()


class UnknownCurrency(ValueError):
    """Not a currency the store can scale; ``str(exc)`` names it."""


def get_currency(code: str) -> Currency:
    """:raises UnknownCurrency: for a code not in :data:`CURRENCIES`."""
    found = CURRENCIES.get(code.upper()) if isinstance(code, str) else None
    if found is None:
        raise UnknownCurrency(f"the store cannot take payments in {code!r} (known: {', '.join(sorted(CURRENCIES))})")
    return found


def parse_minor(text: str, code: str) -> int | None:
    """A plain typed amount (``"12.50"``) in minor units of ``code``; ``None`` when it is not one.

    One grammar for every amount a person types: ASCII digits, at most nine before the point
    and at most the currency's decimals after it (none for zero-decimal currencies); no signs,
    exponents, separators or symbols. Whether Stripe accepts the amount is :func:`stripe_refusal`.
    """
    currency = get_currency(code)
    stripped = text.strip()
    if currency.exponent == 0:
        pattern = r"[0-9]{1,9}"
    else:
        n = currency.exponent
        pattern = rf"[0-9]{{1,9}}(?:\.[0-9]{{1,{n}}})?|\.[0-9]{{1,{n}}}"
    if not re.fullmatch(pattern, stripped):
        return None
    return int(Decimal(stripped) * currency.per_unit)


def format_plain(amount: int, code: str) -> str:
    """``1250, "USD"`` → ``"12.50"``; ``500, "JPY"`` → ``"500"``; ``12340, "KWD"`` → ``"12.340"``
    (what a form field shows; no symbol, no separators)."""
    currency = CURRENCIES.get(code)
    exponent = currency.exponent if currency is not None else 2
    sign = "-" if amount < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(amount)}"
    whole, part = divmod(abs(int(amount)), 10**exponent)
    return f"{sign}{whole}.{part:0{exponent}d}"


def format_grouped(amount: int, code: str) -> str:
    """Like :func:`format_plain` with thousands separators (``1,234.50``), for reading."""
    plain = format_plain(abs(amount), code)
    whole, _, part = plain.partition(".")
    grouped = f"{int(whole):,}" + (f".{part}" if part else "")
    return f"-{grouped}" if amount < 0 else grouped


def example(code: str) -> str:
    """A typed amount to show in messages: ``12.50``, ``500``, ``12.500``."""
    currency = CURRENCIES.get(code)
    if currency is None or currency.exponent == 2:
        return "12.50"
    return "500" if currency.exponent == 0 else "12.500"


def stripe_refusal(amount: int, code: str) -> str | None:
    """Why Stripe would refuse to charge ``amount`` of ``code`` (a phrase), or ``None``."""
    currency = get_currency(code)
    if amount == 0:
        return None  # Stripe completes a zero-amount Checkout Session with no payment at all
    if currency.minimum is not None and amount < currency.minimum:
        return f"below Stripe's minimum charge of {format_plain(currency.minimum, code)} {code}"
    if amount % currency.step:
        return f"not a multiple of {format_plain(currency.step, code)} {code}, which Stripe requires"
    if amount > STRIPE_MAXIMUM:
        return f"above Stripe's maximum of {format_plain(STRIPE_MAXIMUM, code)} {code}"
    return None
