"""What an operator may say about a pack when importing into it, parsed strictly.

Values left as ``None`` take the defaults when the pack is created; for a pack that already
exists they are not used at all (the importer adds albums, it does not edit packs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from shop.currencies import CURRENCIES, UnknownCurrency, example, format_plain, get_currency, stripe_refusal
from shop.models import DEFAULT_MIN_PRICE_CENTS, DEFAULT_SUGGESTED_PRICE_CENTS, PACK_DURATION, utcnow
from shop.money import plain_cents
from shop.text_safety import refusal

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CURRENCY = re.compile(r"^[A-Z]{3}$")

DEFAULT_CURRENCY = "USD"
DEFAULT_DAYS = PACK_DURATION.days
MAX_DAYS = 366
TITLE_MAX = 200
SLUG_MAX = 80


class InvalidPackSetting(ValueError):
    """A pack setting is malformed; the message says which and why."""


def parse_price(text: str, currency: str = DEFAULT_CURRENCY) -> int:
    """``"8"``, ``"8.5"``, ``"8.00"`` → cents (the minor unit of ``currency``: ``"500"`` JPY → 500).

    :raises InvalidPackSetting: for empty input, NaN, infinities, exponents, signs,
        negative amounts, more decimals than the currency has, a currency the store cannot
        scale, and anything else that is not a plain amount such as ``8.00``.
    """
    raw = text.strip()
    try:
        decimals = get_currency(currency).exponent
    except UnknownCurrency as exc:
        raise InvalidPackSetting(str(exc)) from None
    if not raw:
        raise InvalidPackSetting(f"an amount is required, like {example(currency)}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidPackSetting(f"{text!r} is not an amount, write it like 8.00") from None
    if not value.is_finite():
        raise InvalidPackSetting(f"{text!r} is not a finite amount")
    if "e" in raw.lower():
        raise InvalidPackSetting(f"{text!r}: exponents are not allowed, write it like 8.00")
    if value < 0 or raw.startswith("-"):
        raise InvalidPackSetting(f"{text!r}: an amount cannot be negative")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -decimals:
        if decimals == 0:
            raise InvalidPackSetting(f"{text!r}: amounts in {currency} are whole numbers")
        raise InvalidPackSetting(f"{text!r} has more than {decimals} decimals")
    cents = plain_cents(raw, currency)
    if cents is None:
        raise InvalidPackSetting(f"{text!r} is not a plain amount, write it like {example(currency)}")
    return cents


def parse_starts(text: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidPackSetting(
            f"{text!r} is not an ISO 8601 date or time, e.g. 2026-05-01T12:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class PackSettings:
    slug: str
    title: str | None = None
    blurb: str | None = None
    starts_at: datetime | None = None
    days: int | None = None
    min_price_cents: int | None = None
    suggested_price_cents: int | None = None
    currency: str | None = None

    def validate(self, max_amount_cents: int | None = None) -> None:
        """Check everything that can be checked without the database.

        :raises InvalidPackSetting: naming the setting.
        """
        if not SLUG.match(self.slug) or len(self.slug) > SLUG_MAX:
            raise InvalidPackSetting(
                f"pack slug {self.slug!r} must be lowercase letters, digits and single hyphens "
                f"(at most {SLUG_MAX} characters), e.g. spring-2026"
            )
        if self.title is not None and not (0 < len(self.title.strip()) <= TITLE_MAX):
            raise InvalidPackSetting(f"title must be 1 to {TITLE_MAX} characters")
        # Titles go into mail subjects and terminals; a blurb may have lines, nothing else invisible.
        for problem in (refusal("title", self.title or ""), refusal("blurb", self.blurb or "", multiline=True)):
            if problem:
                raise InvalidPackSetting(problem)
        if self.currency is not None and not CURRENCY.match(self.currency):
            raise InvalidPackSetting(
                f"currency {self.currency!r} must be three capital letters, e.g. USD"
            )
        if self.currency is not None and self.currency not in CURRENCIES:
            raise InvalidPackSetting(
                f"currency {self.currency!r} is not one the store can take payments in "
                f"(known: {', '.join(sorted(CURRENCIES))})"
            )
        code = self.currency or DEFAULT_CURRENCY
        if self.days is not None and not (1 <= self.days <= MAX_DAYS):
            raise InvalidPackSetting(f"days must be between 1 and {MAX_DAYS}")
        if self.starts_at is not None and self.starts_at.tzinfo is None:
            raise InvalidPackSetting("starts_at must carry a time zone")
        for name, cents in (
            ("minimum", self.min_price_cents),
            ("suggested", self.suggested_price_cents),
        ):
            if cents is not None and cents < 0:
                raise InvalidPackSetting(f"the {name} price cannot be negative")
            if cents is not None and max_amount_cents is not None and cents > max_amount_cents:
                raise InvalidPackSetting(
                    f"the {name} price {format_plain(cents, code)} is above the store's cap of "
                    f"{format_plain(max_amount_cents, code)} (SHOP_MAX_AMOUNT_CENTS): nobody could pay it"
                )
            too_low = None if cents is None else stripe_refusal(cents, code)
            if too_low is not None:
                raise InvalidPackSetting(f"the {name} price {format_plain(cents or 0, code)} {code} is {too_low}")
        minimum, suggested = self.resolved_prices()
        if suggested < minimum:
            raise InvalidPackSetting(
                f"the suggested price {format_plain(suggested, code)} is below "
                f"the minimum {format_plain(minimum, code)}"
            )

    def resolved_prices(self) -> tuple[int, int]:
        minimum = DEFAULT_MIN_PRICE_CENTS if self.min_price_cents is None else self.min_price_cents
        suggested = (
            DEFAULT_SUGGESTED_PRICE_CENTS
            if self.suggested_price_cents is None
            else self.suggested_price_cents
        )
        return minimum, suggested

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """``(starts_at, ends_at)`` for a new pack: from ``now`` (or ``starts_at``) for
        14 days (or ``days``)."""
        starts = self.starts_at or now or utcnow()
        return starts, starts + timedelta(days=DEFAULT_DAYS if self.days is None else self.days)

    def default_title(self) -> str:
        return self.title.strip() if self.title else self.slug.replace("-", " ").title()


# ------------------------------------------------------------------------------- pay box

CHARITY_MAX = 200
MAX_PRESETS = 6
PRESET_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class PaySettings:
    """What the pay box starts from: the default split in whole percent (artists, charity,
    store), the operator's minimums, an optional charity and preset amounts (minor units;
    empty: the pack page's defaults)."""

    split_artists: int = 90
    split_charity: int = 0
    split_store: int = 10
    store_min_percent: int = 5
    charity_name: str | None = None
    charity_min_percent: int = 0
    preset_amounts: tuple[int, ...] = ()

    @property
    def presets_text(self) -> str:
        """How :attr:`~shop.models.Pack.preset_amounts` stores them: ``"500 1000"``."""
        return " ".join(str(c) for c in self.preset_amounts)


PAY_FIELDS = ("split_artists", "split_charity", "split_store", "store_min_percent", "charity_name",
              "charity_min_percent", "preset_amounts")


def parse_percent(text: str) -> int:
    """``"15"`` → 15: a whole percentage from 0 to 100.

    :raises InvalidPackSetting: for anything else.
    """
    raw = text.strip()
    if not re.fullmatch(r"[0-9]{1,3}", raw) or int(raw) > 100:
        raise InvalidPackSetting(f"{text!r} is not a whole percentage from 0 to 100")
    return int(raw)


def parse_presets(text: str, currency: str = DEFAULT_CURRENCY) -> tuple[int, ...]:
    """``"5 10.00, 25"`` → ``(500, 1000, 2500)`` in ``currency``'s minor unit; empty for none
    (the page's defaults)."""
    parts = [p for p in PRESET_SEPARATORS.split(text.strip()) if p]
    if len(parts) > MAX_PRESETS:
        raise InvalidPackSetting(f"at most {MAX_PRESETS} preset amounts")
    return tuple(parse_price(p, currency) for p in parts)


def parse_pay_settings(values: dict[str, str],
                       currency: str = DEFAULT_CURRENCY) -> tuple[PaySettings | None, dict[str, str]]:
    """Check the pay box's settings of a pack form: ``(settings, {})`` or ``(None, errors)``
    naming each bad field. A field the form does not send keeps :class:`PaySettings`' default."""
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for name in ("split_artists", "split_charity", "split_store", "store_min_percent", "charity_min_percent"):
        try:
            raw = values.get(name)
            numbers[name] = getattr(PaySettings(), name) if raw is None else parse_percent(raw)
        except InvalidPackSetting as exc:
            errors[name] = str(exc)
    presets: tuple[int, ...] = ()
    try:
        presets = parse_presets(values.get("preset_amounts") or "", currency)
    except InvalidPackSetting as exc:
        errors["preset_amounts"] = str(exc)
    charity = (values.get("charity_name") or "").strip() or None
    if charity is not None and len(charity) > CHARITY_MAX:
        errors["charity_name"] = f"the charity's name is at most {CHARITY_MAX} characters"
    if errors:
        return None, errors
    total = numbers["split_artists"] + numbers["split_charity"] + numbers["split_store"]
    if total != 100:
        errors["split_store"] = f"the default split adds up to {total} %, not 100 %"
    elif numbers["split_store"] < numbers["store_min_percent"]:
        errors["split_store"] = "the default store share is below the store's minimum"
    elif charity is None and (numbers["split_charity"] or numbers["charity_min_percent"]):
        errors["charity_name"] = "name the charity, or give it 0 %"
    elif numbers["split_charity"] < numbers["charity_min_percent"]:
        errors["split_charity"] = "the default charity share is below its minimum"
    elif numbers["store_min_percent"] + numbers["charity_min_percent"] > 100:
        errors["store_min_percent"] = "the minimums add up to more than 100 %"
    if errors:
        return None, errors
    return PaySettings(numbers["split_artists"], numbers["split_charity"], numbers["split_store"],
                       numbers["store_min_percent"], charity, numbers["charity_min_percent"], presets), {}
