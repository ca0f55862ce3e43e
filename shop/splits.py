"""How a payment is split between the artists, a charity and the store, and the
beat-the-average threshold: plain arithmetic on integer minor units, used by the pack page,
the buy form, the order page, the receipt and the console alike.

A split is three whole percentages summing to 100 (the artists' part, the charity's, the
store's), and the artists' part is split again between the pack's artists, in whole
percentages of that part summing to 100. Amounts are cut down (floor) and what rounding leaves
goes to the artists, the first artists first, so the parts always add up to what was paid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shop.models import Album, Order, Pack

#: Below this many purchases, the threshold is at least the pack's suggested price.
ORDERS_BEFORE_AVERAGE = 10


@dataclass(frozen=True)
class Artist:
    """One artist of a pack: ``key`` is the id of their first album in the pack (the per-artist
    field's key, and what an order stores), ``artist_id`` the artist record the ledger pays,
    ``weight`` the sum of their albums' ``share_weight`` (what the default split divides by)."""

    key: int
    name: str
    artist_id: int | None = None
    weight: int = 1


@dataclass(frozen=True)
class Split:
    """``per_artist`` is ``(artist, percent of the artists' part)`` for each artist."""

    artists: int
    charity: int
    store: int
    per_artist: tuple[tuple[Artist, int], ...] = ()


@dataclass(frozen=True)
class SplitAmounts:
    artists: int
    charity: int
    store: int
    per_artist: tuple[tuple[str, int], ...]


def pack_artists(albums: Iterable[Album]) -> tuple[Artist, ...]:
    """The pack's artists in album order, each once (one artist record: albums tagged with two
    spellings of one artist are one artist), bonus album's artist included, each with the sum
    of their albums' weights."""
    seen: dict[int | str, Artist] = {}
    for album in sorted(albums, key=lambda a: (a.position, a.id)):
        artist_id = getattr(album, "artist_id", None)
        weight = getattr(album, "share_weight", 1)
        who: int | str = artist_id if artist_id else album.artist
        found = seen.get(who)
        seen[who] = (Artist(album.id, album.artist, artist_id or None, weight) if found is None
                     else Artist(found.key, found.name, found.artist_id, found.weight + weight))
    return tuple(seen.values())


def equal_shares(count: int) -> list[int]:
    """``count`` whole percentages as equal as can be, summing to 100 (the first ones larger)."""
    if count <= 0:
        return []
    base, extra = divmod(100, count)
    return [base + (1 if n < extra else 0) for n in range(count)]


def weighted_shares(weights: Sequence[int]) -> list[int]:
    """Whole percentages in proportion to ``weights``, summing to 100: largest remainder, ties
    to the earlier (equal weights give :func:`equal_shares`; all 0: equal shares)."""
    total = sum(weights)
    if total <= 0:
        return equal_shares(len(weights))
    shares = [100 * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda n: (-(100 * weights[n] % total), n))
    for n in order[:100 - sum(shares)]:
        shares[n] += 1
    return shares


def default_split(pack: Pack, artists: Sequence[Artist]) -> Split:
    """The pack's default split, the artists' part by their albums' weights (equal weights:
    equally per album)."""
    return Split(pack.split_artists, pack.split_charity, pack.split_store,
                 tuple(zip(artists, weighted_shares([a.weight for a in artists]), strict=True)))


def encode_per_artist(per_artist: Sequence[tuple[Artist, int]]) -> str:
    """What :attr:`Order.artist_split` stores: the names too, so a receipt reads the same later."""
    return json.dumps([{"album_id": a.key, "artist": a.name, "percent": p} for a, p in per_artist])


def order_split(order: Order) -> Split | None:
    """The split ``order`` was bought with, or None for an order from before the pay box."""
    if order.split_artists is None or order.split_charity is None or order.split_store is None:
        return None
    per_artist = tuple((Artist(int(item["album_id"]), str(item["artist"])), int(item["percent"]))
                       for item in json.loads(order.artist_split or "[]"))
    return Split(order.split_artists, order.split_charity, order.split_store, per_artist)


def _floor_parts(amount: int, percents: Sequence[int]) -> list[int]:
    return [amount * p // 100 for p in percents]


def split_amounts(amount: int, split: Split) -> SplitAmounts:
    """``amount`` (minor units) cut along ``split``; the parts sum to ``amount`` exactly."""
    charity, store = _floor_parts(amount, (split.charity, split.store))
    artists = amount - charity - store
    shares = _floor_parts(artists, [p for _, p in split.per_artist])
    left = artists - sum(shares)
    for n in range(len(shares)):
        if left <= 0:
            break
        if split.per_artist[n][1]:
            shares[n] += 1
            left -= 1
    return SplitAmounts(artists, charity, store,
                        tuple((artist.name, share) for (artist, _), share in zip(split.per_artist, shares,
                                                                                   strict=True)))


def bonus_threshold(purchases: int, total_cents: int, suggested_cents: int) -> int:
    """What a buyer must pay more than to unlock the bonus album: the average paid so far (net
    of refunds, ``total_cents / purchases``) rounded up to the minor unit, and at least the
    suggested price while fewer than :data:`ORDERS_BEFORE_AVERAGE` orders exist."""
    average = -(-total_cents // purchases) if purchases else 0
    if purchases < ORDERS_BEFORE_AVERAGE:
        return max(average, suggested_cents)
    return average


@dataclass(frozen=True)
class SplitShown:
    """The split an order was bought with, in percent and in the order's money."""

    split: Split
    amounts: SplitAmounts
    charity: str | None


def split_shown(order: Order) -> SplitShown | None:
    split = order_split(order)
    if split is None:
        return None
    return SplitShown(split, split_amounts(order.amount_cents, split), order.pack.charity_name)
