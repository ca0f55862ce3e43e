"""What the order page shows (links are built with ``url_for``, so an app context is needed).

Also the catalog state and the per-process catalog cache the pack page shares
(:mod:`shop.store.views`): a pack's albums, tracks and file sizes are the same for every
buyer and do not change once the pack is on sale, so each process reads them once per pack
and catalog version instead of on every page view.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask import Flask, current_app, url_for
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import selectinload

from shop.downloads.counting import download_counts
from shop.dropbox.order_panel import dropbox_state
from shop.extensions import db
from shop.models import (
    FORMATS,
    Album,
    DisputeStatus,
    Encode,
    EncodeStatus,
    Order,
    OrderStatus,
    Pack,
    Track,
    TrackFile,
    utcnow,
)

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogState:
    """What the pages need to know about a pack's albums, files and encodes, read with the pack.

    ``version`` changes whenever an album, a file or an encode of the pack is added, removed
    or re-encoded (the last encode's end, the counts, the newest file id, the total size).
    """

    preparing: bool
    version: tuple[object, ...]

    def cacheable(self, pack: Pack, now: datetime) -> bool:
        """Whether the pack's catalog may be cached: on sale or ended, where nothing edits it
        (the console refuses, shop.admin.packs.edit_refusal; the version catches the rest)."""
        return not self.preparing and pack.starts_at <= now


def _of_pack(query: Select[Any], track_id: Any) -> Select[Any]:
    """``query`` limited to the rows whose ``track_id`` is a track of the outer query's pack
    (correlated to it: the subquery must name the outer ``packs`` row, not join its own)."""
    return (query.join(Track, Track.id == track_id).join(Album, Album.id == Track.album_id)
            .where(Album.pack_id == Pack.id).correlate(Pack))


@functools.cache
def pack_with_state_statement(column: str) -> Select[Any]:
    """The pack whose ``column`` is ``:value``, with its catalog state as scalar subqueries
    correlated to it (each reads only that pack's albums, tracks, files and encodes, through
    their indexes). Built once: building and hashing a statement this size costs more than
    running it."""
    return select(
        Pack,
        _of_pack(select(func.count(Encode.id)), Encode.track_id)
        .where(Encode.status != EncodeStatus.DONE.value).scalar_subquery(),
        _of_pack(select(func.max(Encode.finished_at)), Encode.track_id).scalar_subquery(),
        select(func.count(Album.id)).where(Album.pack_id == Pack.id).correlate(Pack).scalar_subquery(),
        _of_pack(select(func.count(TrackFile.id)), TrackFile.track_id).scalar_subquery(),
        _of_pack(select(func.coalesce(func.max(TrackFile.id), 0)), TrackFile.track_id).scalar_subquery(),
        _of_pack(select(func.coalesce(func.sum(TrackFile.size), 0)), TrackFile.track_id).scalar_subquery(),
    ).where(getattr(Pack, column) == bindparam("value"))


def pack_with_state(column: str, value: object) -> tuple[Pack, CatalogState] | None:
    """The pack whose ``column`` (``slug`` or ``id``) is ``value`` and its :class:`CatalogState`,
    in one query; None when there is no such pack."""
    row = db.session.execute(pack_with_state_statement(column), {"value": value}).first()
    if row is None:
        return None
    return row[0], catalog_state(row[1:STATE_COLUMNS + 1])


#: How many columns :func:`pack_with_state_statement` adds after the pack.
STATE_COLUMNS = 6


def catalog_state(values: Sequence[Any]) -> CatalogState:
    """The :class:`CatalogState` from the state columns of :func:`pack_with_state_statement`."""
    waiting, *version = values
    return CatalogState(preparing=bool(waiting), version=tuple(version))


CATALOG_CACHE_SIZE = 64
_cache_lock = threading.Lock()


def _cache(app: Flask) -> OrderedDict[tuple[object, ...], Any]:
    # Per application (tests build many apps in one process, each on its own database).
    cache: OrderedDict[tuple[object, ...], Any] = app.extensions.setdefault("shop.catalog_cache", OrderedDict())
    return cache


def cached(key: tuple[object, ...], make: Callable[[], T]) -> T:
    """``make()``, kept in this process's catalog cache under ``key`` (least recently used go first)."""
    cache = _cache(current_app)
    with _cache_lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]  # type: ignore[no-any-return]
    value = make()
    with _cache_lock:
        cache[key] = value
        while len(cache) > CATALOG_CACHE_SIZE:
            cache.popitem(last=False)
    return value


def clear_catalog_cache() -> None:
    with _cache_lock:
        _cache(current_app).clear()


@dataclass(frozen=True)
class TrackLayout:
    """A track as the order page shows it (the attributes of :class:`~shop.models.Track` it uses)."""

    id: int
    number: int
    title: str
    formats: frozenset[str]

    def file(self, fmt: str) -> bool:
        return fmt in self.formats


@dataclass(frozen=True)
class AlbumLayout:
    """An album as the order page shows it (the attributes of :class:`~shop.models.Album` it uses)."""

    id: int
    title: str
    artist: str
    tracks: tuple[TrackLayout, ...]
    sizes: tuple[tuple[str, int], ...]

    def size_of(self, fmt: str) -> int:
        return next((size for f, size in self.sizes if f == fmt), 0)


@dataclass(frozen=True)
class FormatLink:
    format: str
    url: str
    size: int
    downloads: int = 0


@dataclass(frozen=True)
class PaymentState:
    """The order's payment as the page shows it.

    ``state`` is one of ``paid``, ``partly_refunded``, ``refunded``, ``disputed``,
    ``dispute_lost`` and ``pending``; ``finish_url`` leads back to an open checkout.
    """

    state: str
    refunded_cents: int = 0
    finish_url: str | None = None


def payment_state(order: Order, token: str) -> PaymentState:
    if order.status == OrderStatus.PENDING.value:
        finish = None
        if order.checkout_session_id and order.checkout_expires_at and order.checkout_expires_at > utcnow():
            finish = url_for("payments.finish_payment", token=token)
        return PaymentState("pending", finish_url=finish)
    if order.status == OrderStatus.REFUNDED.value:
        return PaymentState("refunded", order.refunded_cents)
    if order.status == OrderStatus.DISPUTED.value:
        lost = order.dispute_status == DisputeStatus.LOST.value
        return PaymentState("dispute_lost" if lost else "disputed", order.refunded_cents)
    if order.refunded_cents:
        return PaymentState("partly_refunded", order.refunded_cents)
    return PaymentState("paid")


def track_url_maker(token: str) -> Callable[[int, str], str]:
    """``url_for("downloads.track", token=token, track_id=..., fmt=...)`` for the page's every
    track and format, from one ``url_for``: a large pack has hundreds of track links, and
    building each through the URL map cost more than the rest of the page."""
    sample = url_for("downloads.track", token=token, track_id=1, fmt=FORMATS[0])
    prefix = sample.removesuffix(f"/1/{FORMATS[0]}")
    assert prefix != sample, sample  # the route's shape changed: build each link with url_for again

    def track_url(track_id: int, fmt: str) -> str:
        return f"{prefix}/{track_id}/{fmt}"

    return track_url


def album_links(token: str, album: AlbumLayout, counts: dict[tuple[str, int | None, str], int]) -> list[FormatLink]:
    return [
        FormatLink(fmt, url_for("downloads.album", token=token, album_id=album.id, fmt=fmt), album.size_of(fmt),
                   counts.get(("album", album.id, fmt), 0))
        for fmt in FORMATS
    ]


def read_album_layouts(pack_id: int) -> tuple[AlbumLayout, ...]:
    """The pack's albums, tracks and the formats and sizes of their files: three queries
    whatever the pack's size, the files as plain rows (not objects)."""
    albums = db.session.scalars(
        select(Album).where(Album.pack_id == pack_id).order_by(Album.position).options(selectinload(Album.tracks))
    ).all()
    files: dict[int, dict[str, int]] = {}
    for track_id, fmt, size in db.session.execute(
        select(TrackFile.track_id, TrackFile.format, TrackFile.size)
        .join(Track, Track.id == TrackFile.track_id).join(Album, Album.id == Track.album_id)
        .where(Album.pack_id == pack_id)
    ):
        files.setdefault(track_id, {})[fmt] = size
    layouts = []
    for album in albums:
        tracks = tuple(TrackLayout(t.id, t.number, t.title, frozenset(files.get(t.id, {}))) for t in album.tracks)
        sizes = tuple((fmt, sum(files.get(t.id, {}).get(fmt, 0) for t in album.tracks)) for fmt in FORMATS)
        layouts.append(AlbumLayout(album.id, album.title, album.artist, tracks, sizes))
    return tuple(layouts)


def album_layouts(pack: Pack, state: CatalogState) -> tuple[AlbumLayout, ...]:
    if not state.cacheable(pack, utcnow()):
        return read_album_layouts(pack.id)
    return cached(("album layouts", pack.id, state.version), lambda: read_album_layouts(pack.id))


def order_page_context(order: Order, token: str) -> dict[str, Any]:
    """Template context for ``orders/show.html``: a fixed number of queries, whatever the
    number of albums, tracks, deliveries and counts (tests/test_query_counts.py)."""
    counts = download_counts(order) if order.is_paid else {}
    found = pack_with_state("id", order.pack_id)
    assert found is not None  # a foreign key
    pack, state = found
    albums = album_layouts(pack, state) if order.is_paid else ()
    pack_links = [
        FormatLink(fmt, url_for("downloads.pack", token=token, fmt=fmt), sum(a.size_of(fmt) for a in albums),
                   counts.get(("pack", None, fmt), 0))
        for fmt in FORMATS
    ]
    return {
        "order": order,
        "payment": payment_state(order, token),
        "pack": pack,
        "albums": [(album, album_links(token, album, counts)) for album in albums],
        "pack_links": pack_links,
        "track_counts": counts,
        "track_url": track_url_maker(token),
        "formats": FORMATS,
        # For an order that is no longer paid, only to show why its deliveries stopped.
        "dropbox": dropbox_state(order),
    }
