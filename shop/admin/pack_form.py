"""The pack form in the console: its values, its checks, saving a new pack or an edit.

No request objects here. Settings are checked by :mod:`shop.catalog.pack_settings`, the rules
``flask catalog import`` applies, plus what only the console lets an operator say (an end
date, edits). A pack the console creates starts in the future: it has no albums yet, and
:meth:`~shop.models.Pack.is_on_sale` would put an empty pack on sale; it goes on sale early
only through :func:`shop.admin.packs.put_on_sale`.

One form, one module: other forms of the pack page sit next to this one in their own modules
(``pack_*.py``), and the views in :mod:`shop.admin.pack_views` stay thin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from shop.admin import audit
from shop.admin.models import Operator
from shop.catalog.pack_settings import (
    CURRENCY,
    MAX_DAYS,
    PAY_FIELDS,
    InvalidPackSetting,
    PackSettings,
    PaySettings,
    parse_pay_settings,
    parse_price,
    parse_starts,
)
from shop.currencies import CURRENCIES, format_plain
from shop.extensions import db
from shop.models import Order, Pack, utcnow
from shop.text_safety import refusal

FIELDS = ("title", "slug", "blurb", "starts_at", "ends_at", "currency", "min_price", "suggested_price", *PAY_FIELDS,
          "bonus_album")
BLURB_MAX = 2000


class PackFormError(ValueError):
    """A pack form that cannot be saved; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class PackForm:
    """A pack form's values, checked: cents, aware UTC datetimes."""

    title: str
    slug: str
    blurb: str
    starts_at: datetime
    ends_at: datetime
    currency: str
    min_price_cents: int
    suggested_price_cents: int
    pay: PaySettings = PaySettings()
    bonus_album_id: int | None = None


def _pay_values(pay: PaySettings, presets: str) -> dict[str, str]:
    return {"split_artists": str(pay.split_artists), "split_charity": str(pay.split_charity),
            "split_store": str(pay.split_store), "store_min_percent": str(pay.store_min_percent),
            "charity_name": pay.charity_name or "", "charity_min_percent": str(pay.charity_min_percent),
            "preset_amounts": presets}


def form_values(pack: Pack | None) -> dict[str, str]:
    """The form's fields as text: the pack's values, or the defaults of a new pack (tomorrow, 14 days)."""
    if pack is None:
        starts = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        return {"title": "", "slug": "", "blurb": "", "starts_at": _local(starts),
                "ends_at": _local(starts + timedelta(days=14)), "currency": "USD",
                "min_price": "1.00", "suggested_price": "10.00", **_pay_values(PaySettings(), ""), "bonus_album": ""}
    pay = PaySettings(pack.split_artists, pack.split_charity, pack.split_store, pack.store_min_percent,
                      pack.charity_name, pack.charity_min_percent)
    presets = " ".join(format_plain(int(c), pack.currency) for c in pack.preset_amounts.split())
    bonus = next((str(a.id) for a in pack.albums if a.is_bonus), "")
    return {"title": pack.title, "slug": pack.slug, "blurb": pack.blurb, "starts_at": _local(pack.starts_at),
            "ends_at": _local(pack.ends_at), "currency": pack.currency,
            "min_price": format_plain(pack.min_price_cents, pack.currency),
            "suggested_price": format_plain(pack.suggested_price_cents, pack.currency), **_pay_values(pay, presets),
            "bonus_album": bonus}


def posted_values(form: Mapping[str, str]) -> dict[str, str]:
    """A posted pack form's fields (shortened); a pay box field it does not send stays out
    (:func:`parse_form` keeps its default or the pack's)."""
    kept = (*PAY_FIELDS, "bonus_album")
    return {name: form.get(name, "")[:2100] for name in FIELDS if name in form or name not in kept}


def _local(value: datetime) -> str:
    """What an ``<input type=datetime-local>`` shows (the console speaks UTC)."""
    return value.strftime("%Y-%m-%dT%H:%M")


def parse_form(values: dict[str, str], existing: Pack | None = None, now: datetime | None = None) -> PackForm:
    """Check a pack form with the catalog's rules and the console's own.

    :raises PackFormError: naming every bad field; nothing is written.
    """
    now = now or utcnow()
    errors: dict[str, str] = {}
    text = {name: (values.get(name) or "").strip() for name in FIELDS}
    slug = existing.slug if existing is not None else text["slug"]

    def parsed(name: str, parse: Any) -> Any:
        try:
            return parse(text[name])
        except InvalidPackSetting as exc:
            errors[name] = str(exc)
            return None

    starts = parsed("starts_at", parse_starts) if text["starts_at"] else None
    ends = parsed("ends_at", parse_starts) if text["ends_at"] else None
    currency = text["currency"].upper()
    if not CURRENCY.match(currency):
        errors["currency"] = f"currency {currency!r} must be three capital letters, e.g. USD"
    elif currency not in CURRENCIES:
        errors["currency"] = f"the store cannot take payments in {currency} (known: {', '.join(sorted(CURRENCIES))})"
    # Prices are typed in the pack's currency (JPY has no decimals, KWD three).
    price_currency = currency if "currency" not in errors else "USD"
    minimum = parsed("min_price", lambda value: parse_price(value, price_currency))
    suggested = parsed("suggested_price", lambda value: parse_price(value, price_currency))
    if starts is None and "starts_at" not in errors:
        errors["starts_at"] = "a start is required"
    if ends is None and "ends_at" not in errors:
        errors["ends_at"] = "an end is required"
    if starts is not None and ends is not None:
        if ends <= starts:
            errors["ends_at"] = "the end must come after the start"
        elif ends - starts > timedelta(days=MAX_DAYS):
            errors["ends_at"] = f"a pack is on sale for at most {MAX_DAYS} days"
        elif ends <= now:
            errors["ends_at"] = "the end is in the past"
    if starts is not None and "starts_at" not in errors and starts <= now \
            and (existing is None or existing.starts_at != starts):
        # Only "Put on sale now" starts a pack early, after checking it is complete.
        errors["starts_at"] = "the start must be in the future; put the pack on sale once it is ready"
    if len(text["blurb"]) > BLURB_MAX:
        errors["blurb"] = f"the blurb is at most {BLURB_MAX} characters"
    if not text["title"]:
        errors["title"] = "a title is required"
    for name, multiline in (("title", False), ("blurb", True)):
        problem = refusal(name, text[name], multiline=multiline)
        if problem:
            errors[name] = f"{problem}; type it again without it"
    pay, pay_errors = parse_pay_settings({name: text[name] for name in PAY_FIELDS if name in values}, price_currency)
    errors.update(pay_errors)
    bonus_album_id = (_bonus_album(text["bonus_album"], existing, errors) if "bonus_album" in values
                      else next((a.id for a in existing.albums if a.is_bonus), None) if existing else None)

    settings = PackSettings(slug=slug, title=text["title"] or None, blurb=text["blurb"], starts_at=starts,
                            min_price_cents=minimum, suggested_price_cents=suggested, currency=currency)
    if not errors:
        try:
            settings.validate(current_app.config.get("MAX_AMOUNT_CENTS"))
        except InvalidPackSetting as exc:
            message = str(exc)
            where = ("slug" if message.startswith("pack slug") else "title" if message.startswith("title")
                     else "suggested_price" if "suggested" in message else "min_price")
            errors[where] = message
    if existing is None and "slug" not in errors and \
            db.session.scalar(select(Pack.id).where(Pack.slug == slug)) is not None:
        errors["slug"] = f"a pack {slug!r} already exists"
    if errors:
        raise PackFormError(errors)
    assert starts is not None and ends is not None and minimum is not None and suggested is not None
    assert pay is not None
    return PackForm(title=text["title"], slug=slug, blurb=text["blurb"], starts_at=starts, ends_at=ends,
                    currency=currency, min_price_cents=minimum, suggested_price_cents=suggested, pay=pay,
                    bonus_album_id=bonus_album_id)


def _bonus_album(text: str, existing: Pack | None, errors: dict[str, str]) -> int | None:
    """The album chosen as the pack's bonus ("beat the average"), or None for none."""
    if not text:
        return None
    albums = existing.albums if existing is not None else []
    chosen = next((a for a in albums if str(a.id) == text), None)
    if chosen is None:
        errors["bonus_album"] = "choose one of this pack's albums"
        return None
    if len(albums) < 2:
        errors["bonus_album"] = "a pack needs another album besides its bonus album"
        return None
    return chosen.id


def _apply_pay(pack: Pack, form: PackForm) -> None:
    pay = form.pay
    pack.split_artists, pack.split_charity, pack.split_store = pay.split_artists, pay.split_charity, pay.split_store
    pack.store_min_percent, pack.charity_name = pay.store_min_percent, pay.charity_name
    pack.charity_min_percent, pack.preset_amounts = pay.charity_min_percent, pay.presets_text
    # One bonus album per pack (a unique index): clear the old one before marking the new one.
    for album in pack.albums:
        album.is_bonus = False
    db.session.flush()
    for album in pack.albums:
        album.is_bonus = album.id == form.bonus_album_id


def create(form: PackForm, operator: Operator, ip: str | None) -> Pack:
    """A new pack (committed, with its audit row)."""
    pack = Pack(slug=form.slug, title=form.title, blurb=form.blurb, starts_at=form.starts_at,
                ends_at=form.ends_at, currency=form.currency, min_price_cents=form.min_price_cents,
                suggested_price_cents=form.suggested_price_cents)
    db.session.add(pack)
    _apply_pay(pack, form)
    db.session.flush()
    audit.record(operator, "pack.create", f"pack:{pack.id}", _audited(form), ip)
    db.session.commit()
    return pack


def edit_refusal(pack: Pack, now: datetime | None = None) -> str | None:
    """Why ``pack`` cannot be edited any more, or None: on sale, ended, or bought already."""
    now = now or utcnow()
    if pack.has_ended(now):
        return "the pack has ended"
    if pack.is_on_sale(now):
        return "the pack is on sale"
    if db.session.scalar(select(func.count(Order.id)).where(Order.pack_id == pack.id)):
        return "the pack has orders"
    return None


def update(pack: Pack, form: PackForm, operator: Operator, ip: str | None) -> None:
    """Save an edit (the slug stays: the catalog and the store's Dropbox folders go by it).

    :raises PackFormError: when the pack may no longer be edited.
    """
    refusal = edit_refusal(pack)
    if refusal:
        raise PackFormError({"pack": f"not saved: {refusal}"})
    pack.title, pack.blurb, pack.currency = form.title, form.blurb, form.currency
    pack.starts_at, pack.ends_at = form.starts_at, form.ends_at
    pack.min_price_cents, pack.suggested_price_cents = form.min_price_cents, form.suggested_price_cents
    _apply_pay(pack, form)
    audit.record(operator, "pack.update", f"pack:{pack.id}", _audited(form), ip)
    db.session.commit()


def _audited(form: PackForm) -> dict[str, Any]:
    return {"slug": form.slug, "title": form.title, "starts_at": form.starts_at.isoformat(),
            "ends_at": form.ends_at.isoformat(), "currency": form.currency,
            "min_price_cents": form.min_price_cents, "suggested_price_cents": form.suggested_price_cents,
            "split": [form.pay.split_artists, form.pay.split_charity, form.pay.split_store],
            "store_min_percent": form.pay.store_min_percent, "charity_name": form.pay.charity_name,
            "charity_min_percent": form.pay.charity_min_percent, "preset_amounts": list(form.pay.preset_amounts),
            "bonus_album_id": form.bonus_album_id}
