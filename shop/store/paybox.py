"""The pay box's own fields on the buy form: preset amounts, the signed beat-the-average
threshold (hidden field ``threshold``) and the split (``split_artists``, ``split_charity``,
``split_store``, and ``split_artist_<album id>`` per artist). No request objects here.

The threshold a buyer was shown is honoured for :data:`THRESHOLD_HELD`, so a rising average
never takes the bonus from someone who was already paying; it is signed with the app's secret
key and a timestamp (itsdangerous), and a tampered, foreign or expired value counts for nothing
(the current threshold applies). The lower of the two applies, so a falling average helps too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner

from shop.currencies import CURRENCIES, format_plain
from shop.models import Order, Pack
from shop.splits import Artist, Split, default_split, encode_per_artist

THRESHOLD_HELD = timedelta(minutes=60)
_SALT = "shop.store.paybox.threshold"
SPLIT_FIELDS = ("split_artists", "split_charity", "split_store")
ARTIST_FIELD = "split_artist_"
PERCENT = re.compile(r"[0-9]{1,3}")


class _Signer(TimestampSigner):
    """A timestamp signer whose clock can be set (tests sign at a past moment)."""

    def __init__(self, at: float | None = None) -> None:
        super().__init__(current_app.secret_key or "", salt=_SALT)
        self._at = at

    def get_timestamp(self) -> int:
        return int(time.time() if self._at is None else self._at)


def sign_threshold(pack_id: int, cents: int, at: float | None = None) -> str:
    """The hidden field's value for ``cents`` shown on ``pack_id``'s page (signed at ``at``, or now)."""
    return _Signer(at).sign(f"{pack_id}:{cents}").decode()


def held_threshold(token: str | None, pack_id: int, now: float | None = None) -> int | None:
    """The threshold signed in ``token`` for this pack within :data:`THRESHOLD_HELD`, or None
    when the token is missing, tampered with, for another pack or expired."""
    if not token or len(token) > 200:
        return None
    try:
        value = _Signer(now).unsign(token, max_age=int(THRESHOLD_HELD.total_seconds())).decode()
    except BadSignature:  # SignatureExpired is one too
        return None
    signed_pack, _, cents = value.partition(":")
    if signed_pack != str(pack_id) or not cents.isdigit():
        return None
    return int(cents)


def honoured_threshold(token: str | None, pack_id: int, current: int, now: float | None = None) -> int:
    """The threshold that applies to a buy: the held one (:func:`held_threshold`) or
    ``current``, whichever is lower."""
    held = held_threshold(token, pack_id, now)
    return current if held is None else min(held, current)


def whole_unit_above(cents: int, currency: str) -> int:
    """The next whole unit of ``currency`` strictly above ``cents`` ($12.40 and $12.00 both
    give $13.00; ¥1240 gives ¥1241): a preset that beats the average."""
    unit = CURRENCIES[currency].per_unit if currency in CURRENCIES else 100
    return (cents // unit + 1) * unit


def preset_amounts(pack: Pack) -> list[int] | None:
    """The operator's preset amounts, or None for the defaults (the minimum, the suggested
    price and the average's next whole unit, which the page fills in per view)."""
    cents = [int(part) for part in pack.preset_amounts.split() if part.isdigit()]
    return cents or None


def as_field(cents: int, currency: str) -> str:
    """Minor units as the price box holds them: ``1250`` → ``12.50`` (``500`` JPY → ``500``)."""
    return format_plain(cents, currency)


def chosen_amount(form: Mapping[str, str]) -> str:
    """The amount asked for: a preset button's (a submit button without JavaScript), else the box's."""
    return form.get("preset") or form.get("amount", "")


@dataclass
class Choice:
    """What the pay box's fields say: the ``split`` (None when they are wrong), the threshold
    that applies, ``errors`` for the form and ``values`` to show again as typed."""

    split: Split | None
    threshold: int
    bonus: bool
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    def apply(self, order: Order) -> None:
        """Write the split and the bonus decision on ``order`` (its amount set already)."""
        assert self.split is not None
        order.split_artists, order.split_charity, order.split_store = (
            self.split.artists, self.split.charity, self.split.store)
        order.artist_split = encode_per_artist(self.split.per_artist)
        order.bonus_threshold_cents = self.threshold if self.bonus else None
        # Strictly more than the threshold: paying exactly the average does not beat it.
        order.bonus_unlocked = self.bonus and order.amount_cents > self.threshold


def _percent(text: str) -> int | None:
    text = text.strip()
    return int(text) if PERCENT.fullmatch(text) and int(text) <= 100 else None


def read_choice(form: Mapping[str, str], pack: Pack, artists: Sequence[Artist], has_bonus: bool,
                current_threshold: int, now: float | None = None) -> Choice:
    """Check the pay box's fields of a buy form. A form without split fields takes the pack's
    default split (what the page starts from); a form without per-artist fields shares the
    artists' part equally."""
    values = {name: form.get(name, "")[:10] for name in SPLIT_FIELDS}
    values["threshold"] = form.get("threshold", "")[:200]
    errors: dict[str, str] = {}
    threshold = honoured_threshold(values["threshold"], pack.id, current_threshold, now)
    split = default_split(pack, artists)
    if any(values[name] for name in SPLIT_FIELDS):
        split = _top_split(values, pack, split, errors) or split
    per_artist = _artist_split(form, artists, values, errors)
    if per_artist is not None:
        split = Split(split.artists, split.charity, split.store, per_artist)
    return Choice(None if errors else split, threshold, has_bonus, errors, values)


def _top_split(values: dict[str, str], pack: Pack, default: Split, errors: dict[str, str]) -> Split | None:
    if not pack.charity_name and not values["split_charity"]:
        values["split_charity"] = "0"
    parsed = [_percent(values[name]) for name in SPLIT_FIELDS]
    if any(p is None for p in parsed):
        errors["split"] = "Each share is a whole percentage from 0 to 100."
        return None
    artists, charity, store = (int(p or 0) for p in parsed)
    if artists + charity + store != 100:
        errors["split"] = f"The shares add up to {artists + charity + store} %; they must add up to 100 %."
    elif store < pack.store_min_percent:
        errors["split"] = f"At least {pack.store_min_percent} % goes to the store."
    elif not pack.charity_name and charity:
        errors["split"] = "This pack has no charity: its share must be 0 %."
    elif pack.charity_name and charity < pack.charity_min_percent:
        errors["split"] = f"At least {pack.charity_min_percent} % goes to {pack.charity_name}."
    if errors:
        return None
    return Split(artists, charity, store, default.per_artist)


def _artist_split(form: Mapping[str, str], artists: Sequence[Artist], values: dict[str, str],
                  errors: dict[str, str]) -> tuple[tuple[Artist, int], ...] | None:
    sent = {name: form.get(name, "")[:10] for name in form if name.startswith(ARTIST_FIELD)}
    if not sent:
        return None
    values.update(sent)
    known = {f"{ARTIST_FIELD}{a.key}": a for a in artists}
    if set(sent) - set(known):
        errors["split_artist"] = "That is not an artist of this pack."
        return None
    if set(known) - set(sent):
        errors["split_artist"] = "Give every artist a share (0 is fine)."
        return None
    parsed = {name: _percent(text) for name, text in sent.items()}
    if any(p is None for p in parsed.values()):
        errors["split_artist"] = "Each artist's share is a whole percentage from 0 to 100."
        return None
    total = sum(int(p or 0) for p in parsed.values())
    if total != 100:
        errors["split_artist"] = f"The artists' shares add up to {total} %; they must add up to 100 %."
        return None
    return tuple((artist, int(parsed[name] or 0)) for name, artist in known.items())


def minimum_note(pack: Pack) -> dict[str, str]:
    """The words under each slider naming its minimum ("at least 5 % to the store")."""
    notes = {"split_store": f"At least {pack.store_min_percent} % to the store."}
    if pack.charity_name and pack.charity_min_percent:
        notes["split_charity"] = f"At least {pack.charity_min_percent} % to {pack.charity_name}."
    return notes
