"""The pack page's numbers and the pay box's starting point: the stats read with the pack (one
query), the beat-the-average threshold and the split of all money so far, the preset
buttons, the artists and the bonus album the buy box names, and the buy form's defaults."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, select

from shop import currencies
from shop.accounting import IN_GOOD_STANDING, NET
from shop.formatting import money
from shop.models import Album, Order, Pack
from shop.money import average_cents
from shop.splits import Artist, bonus_threshold, default_split, pack_artists
from shop.store import bp, paybox


@bp.app_template_global("preset_buttons")
def preset_buttons(pack: Pack, stats: dict[str, str]) -> list[tuple[str, str, str]]:
    """The pay box's preset amounts as ``(field value, label, title)``: the operator's, else
    the minimum, the suggested price and the next whole unit above the average (``stats`` as
    :func:`stats_shown` gives them, or their slots)."""
    operator = paybox.preset_amounts(pack)
    if operator is not None:
        return [(paybox.as_field(c, pack.currency), money(c, pack.currency), "") for c in operator]
    return [
        (paybox.as_field(pack.min_price_cents, pack.currency), money(pack.min_price_cents, pack.currency),
         "The minimum"),
        (paybox.as_field(pack.suggested_price_cents, pack.currency), money(pack.suggested_price_cents, pack.currency),
         "The suggested price"),
        (stats["average_preset"], stats["average_preset_label"], "Above the average paid so far"),
    ]


@dataclass(frozen=True)
class PackStats:
    """The pack's orders in good standing and their net (as :mod:`shop.accounting` defines
    them, what :func:`~shop.accounting.pack_stats` counts; the average rounded half up), and the
    charity's and store's parts of that money times 100 (each order's kept amount times its
    split percentage; orders from before the pay box count at the pack's default split)."""

    purchases: int
    total: int
    charity_weighted: int = 0
    store_weighted: int = 0

    @property
    def average(self) -> int:
        return average_cents(self.total, self.purchases)

    def threshold(self, pack: Pack) -> int:
        return bonus_threshold(self.purchases, self.total, pack.suggested_price_cents)

    def raised(self) -> tuple[int, int, int]:
        """``(artists, charity, store)`` of all the money so far; they sum to :attr:`total`."""
        charity, store = self.charity_weighted // 100, self.store_weighted // 100
        return self.total - charity - store, charity, store


def stats_columns() -> list[Any]:
    """The outer query's pack's stats as scalar subqueries, in :class:`PackStats`' order."""
    # The orders and money of shop.accounting: in good standing (no code orders), net.
    paid = (Order.pack_id == Pack.id) & IN_GOOD_STANDING
    kept = NET

    def weighted(share: Any, default: Any) -> Any:
        return select(func.coalesce(func.sum(kept * func.coalesce(share, default)), 0)).where(paid).scalar_subquery()

    return [
        select(func.count(Order.id)).where(paid).scalar_subquery(),
        select(func.coalesce(func.sum(kept), 0)).where(paid).scalar_subquery(),
        weighted(Order.split_charity, Pack.split_charity),
        weighted(Order.split_store, Pack.split_store),
    ]


@functools.cache
def stats_statement() -> Select[Any]:
    """The pack at ``:value`` (its slug) with its stats only: the stats JSON's one query."""
    return select(Pack, *stats_columns()).where(Pack.slug == bindparam("value"))


def stats_from(values: Any) -> PackStats:
    return PackStats(*(int(v) for v in values))


@dataclass(frozen=True)
class Lineup:
    """What the buy box needs of the albums: the artists (one split slider each) and the bonus
    album's ``(id, artist, title)``, if the pack has one."""

    artists: tuple[Artist, ...]
    bonus: tuple[int, str, str] | None


def lineup_of(albums: Sequence[Album]) -> Lineup:
    bonus = next(((a.id, a.artist, a.title) for a in albums if a.is_bonus), None)
    return Lineup(pack_artists(albums), bonus)



def stats_shown(pack: Pack, stats: PackStats, threshold_token: str | None = None) -> dict[str, str]:
    """What differs per view, as the page prints it: the stats (site.js refreshes them in
    place), the beat-the-average threshold, its signed copy for the form (``threshold_token``
    when the buyer holds one still, see :func:`shop.store.paybox.held_threshold`), and the
    preset that beats the average."""
    threshold = stats.threshold(pack)
    held = paybox.held_threshold(threshold_token, pack.id)
    if held is None:
        threshold_token = None
    else:
        threshold = min(threshold, held)
    artists, charity, store = stats.raised()
    beat = paybox.whole_unit_above(stats.average if stats.purchases else pack.suggested_price_cents, pack.currency)
    return {
        "purchases": str(stats.purchases),
        "average": money(stats.average, pack.currency) if stats.purchases else "–",
        "total": money(stats.total, pack.currency),
        "threshold": money(threshold, pack.currency),
        "threshold_cents": str(threshold),
        "threshold_token": threshold_token or paybox.sign_threshold(pack.id, threshold),
        "raised_artists": money(artists, pack.currency),
        "raised_charity": money(charity, pack.currency),
        "raised_store": money(store, pack.currency),
        "average_preset": paybox.as_field(beat, pack.currency),
        "average_preset_label": money(beat, pack.currency),
    }


@bp.app_template_global("pay_box_amounts")
def pay_box_amounts(pack: Pack, form: dict[str, str]) -> dict[str, tuple[int, str]]:
    """What each split field gives of the price in the box, ``(percent, money)`` such as
    ``(80, "$4.00")``, for the words the pay box's script writes beside each slider: the page
    is drawn as it will stay, and the script formats money only once the buyer moves
    something. The same arithmetic as
    ``startPayBox`` in static/js/site.js: the charity's and store's parts rounded down, the rest
    to the artists, and each artist's part of that rounded down."""
    total = currencies.parse_minor(form.get("amount", ""), pack.currency) or 0

    def percent(name: str) -> int:
        value = form.get(name, "").strip()
        return int(value) if value.isdigit() and len(value) <= 3 else 0

    def part(name: str, of: int) -> int:
        return of * percent(name) // 100

    charity = part("split_charity", total) if pack.charity_name else 0
    store = part("split_store", total)
    cents = {"split_artists": total - charity - store, "split_charity": charity, "split_store": store}
    for name in form:
        if name.startswith(paybox.ARTIST_FIELD):
            cents[name] = part(name, cents["split_artists"])
    return {name: (percent(name), money(value, pack.currency)) for name, value in cents.items()}


def default_form(pack: Pack, lineup: Lineup) -> dict[str, str]:
    """The buy form as a new visitor sees it: the suggested price and the pack's default split."""
    form = {"amount": paybox.as_field(pack.suggested_price_cents, pack.currency), "email": "",
            "split_artists": str(pack.split_artists), "split_charity": str(pack.split_charity),
            "split_store": str(pack.split_store)}
    split = default_split(pack, lineup.artists)
    form.update({f"{paybox.ARTIST_FIELD}{artist.key}": str(share) for artist, share in split.per_artist})
    return form
