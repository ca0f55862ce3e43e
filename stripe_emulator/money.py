"""Currencies and amounts as Stripe counts them: the presentment currencies it accepts, their
minor units, the minimum and maximum charge amounts, and the processing fee.

Facts from Stripe's "Supported currencies" documentation: amounts are integers in the
currency's minor unit; zero-decimal currencies take the amount as is; three-decimal ones
count thousandths and need the last digit to be 0; an amount must be at least the
currency's minimum and at most 99,999,999 minor units.
"""

from __future__ import annotations

from .wire import StripeError

#: Stripe's presentment currencies (lowercase ISO 4217 codes).
CURRENCIES = frozenset("""
usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp
byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip
gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt
lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr
nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd
std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xcg xof xpf yer
zar zmw
""".split())

ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf",
                          "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

#: Stripe's documented minimum charge amounts, in minor units. Other currencies are
#: converted to the account's settlement currency by Stripe at the day's rate, which the
#: emulator does not do: for them any positive amount passes.
MINIMUMS: dict[str, int] = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
    "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
    "sek": 300, "sgd": 50, "thb": 1000,
}
MAXIMUM = 99_999_999

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}

#: The emulator's one card rate: 2.9 % plus a fixed fee (30 cents in two-decimal
#: currencies, nothing in zero-decimal ones, 0.300 in three-decimal ones).
FEE_PERCENT_BPS = 290


def decimals(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def format_amount(amount: int, currency: str) -> str:
    """``12.00 EUR`` (``1200 JPY``, ``1.250 KWD``)."""
    places = decimals(currency)
    if places == 0:
        return f"{amount} {currency.upper()}"
    scale = 10 ** places
    return f"{amount // scale}.{amount % scale:0{places}d} {currency.upper()}"


def display(amount: int, currency: str) -> str:
    """Stripe's form in error messages: ``€0.50 eur``, ``¥50 jpy``, ``2.000 kwd``."""
    places = decimals(currency)
    scale = 10 ** places
    whole = f"{amount // scale:,}"
    number = whole if places == 0 else f"{whole}.{amount % scale:0{places}d}"
    return f"{_SYMBOLS.get(currency, '')}{number} {currency}"


def check_currency(value: str, param: str) -> str:
    """The lowercase code of a currency Stripe supports.

    :raises StripeError: ``invalid_request_error`` naming ``param`` for anything else.
    """
    currency = value.lower()
    if currency not in CURRENCIES:
        raise StripeError(f"Invalid currency: {currency}. Stripe currently supports these "
                          f"currencies: {', '.join(sorted(CURRENCIES))}", param=param,
                          validation=True)
    return currency


def check_minor_units(amount: int, currency: str, param: str) -> None:
    """Three-decimal amounts must end in 0, as Stripe's payment partners require."""
    if currency in THREE_DECIMAL and amount % 10:
        raise StripeError(f"Invalid amount: {amount}. Amounts in {currency} must be rounded to "
                          "the nearest ten (the last digit must be 0).",
                          code="parameter_invalid_integer", param=param, validation=True)


def check_amount(amount: int, currency: str, param: str | None, subject: str) -> None:
    """Stripe's bounds on what one payment may charge.

    :param subject: ``Amount`` for a PaymentIntent, or the Checkout Session's wording.
    :raises StripeError: ``amount_too_small`` or ``amount_too_large``.
    """
    minimum = MINIMUMS.get(currency, 1)
    if amount < minimum:
        raise StripeError(f"{subject} must {'add up to ' if param is None else 'be '}at least "
                          f"{display(minimum, currency)}", code="amount_too_small", param=param)
    if amount > MAXIMUM:
        raise StripeError(f"{subject} must be no more than {display(MAXIMUM, currency)}",
                          code="amount_too_large", param=param)


def fee(amount: int, currency: str) -> int:
    """The processing fee on a charge of ``amount``, rounded half up."""
    fixed = {0: 0, 2: 30, 3: 300}[decimals(currency)]
    return (amount * FEE_PERCENT_BPS + 5_000) // 10_000 + fixed
