"""What the order page shows (links are built with ``url_for``, so an app context is needed)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import url_for
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from shop.catalog.state import STATE_COLUMNS, CatalogState, catalog_state, state_columns
from shop.downloads.counting import CountKey, download_counts
from shop.dropbox.order_panel import dropbox_state
from shop.extensions import db
from shop.formats import FORMATS_BY_ID, canonical_format_id, stream_format
from shop.models import FORMATS, Album, DisputeStatus, Order, OrderStatus, Pack, Track, TrackFile, utcnow
from shop.order_links import link_params, order_by_link_statement
from shop.page_cache import cached
from shop.splits import split_shown
from shop.urls import link_maker


@functools.cache
def _order_page_statement() -> Select[Any]:
    """The order a live link opens (:func:`shop.order_links.order_by_link_statement`), with
    its pack and the pack's catalog state: what the order page starts from, in one round
    trip. Built once."""
    return order_by_link_statement().add_columns(Pack, *state_columns()).join(Pack, Pack.id == Order.pack_id)


def find_order_with_pack(token: str) -> tuple[Order, Pack, CatalogState] | None:
    """Like :func:`shop.order_links.find_order` (``None`` for malformed, unknown and revoked
    tokens alike), with the order's pack and its :class:`CatalogState` read in the same query."""
    params = link_params(token)
    row = None if params is None else db.session.execute(_order_page_statement(), params).first()
    if row is None:
        return None
    return row[0], row[1], catalog_state(row[2:STATE_COLUMNS + 2])


@dataclass(frozen=True)
class TrackLayout:
    """A track as the order page shows it (the attributes of :class:`~shop.models.Track` it uses)."""

    id: int
    number: int
    title: str
    formats: frozenset[str]


@dataclass(frozen=True)
class AlbumLayout:
    """An album as the order page shows it (the attributes of :class:`~shop.models.Album` it uses).

    ``sizes`` holds the total size of the album's files in each format it has a file in;
    ``bonus`` marks the pack's beat-the-average album.
    """

    id: int
    title: str
    artist: str
    tracks: tuple[TrackLayout, ...]
    sizes: dict[str, int]
    bonus: bool = False


@dataclass(frozen=True)
class PaymentState:
    """The order's payment as the page shows it.

    ``state`` is one of ``paid``, ``partly_refunded``, ``refunded``, ``disputed``,
    ``dispute_lost``, ``processing`` (a delayed payment on its way) and ``pending``;
    ``finish_url`` leads back to an open checkout.
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
    if order.status == OrderStatus.PROCESSING.value:
        return PaymentState("processing")
    if order.status == OrderStatus.REFUNDED.value:
        return PaymentState("refunded", order.refunded_cents)
    if order.status == OrderStatus.DISPUTED.value:
        lost = order.dispute_status == DisputeStatus.LOST.value
        return PaymentState("dispute_lost" if lost else "disputed", order.refunded_cents)
    if order.refunded_cents:
        return PaymentState("partly_refunded", order.refunded_cents)
    return PaymentState("paid")


#: How much of an unknown ``?format=`` value the page repeats back.
UNKNOWN_FORMAT_SHOWN = 40


@dataclass(frozen=True)
class FormatChoice:
    """The one format the order page's downloads are in, and how it was chosen.

    :param format: the format of every download link on the page.
    :param available: the formats the pack has files in, in display order.
    :param remember: the format the buyer asked for (a known ``?format=``, canonical), to keep
        in their cookie; ``None`` when they asked for none.
    :param unknown: a ``?format=`` value that names no format, shortened for the page's notice.
    """

    format: str
    available: tuple[str, ...]
    remember: str | None = None
    unknown: str | None = None


def choose_format(asked: str | None, remembered: str | None, available: Sequence[str]) -> FormatChoice:
    """The page's format: the one ``asked`` for (``?format=``, an id or an old alias), else the
    ``remembered`` one (the buyer's cookie; an unknown value is ignored), else the first format.
    If the pack has no file in that format, the first of ``available`` that it has.

    An empty ``asked`` counts as not asking.
    """
    canonical = canonical_format_id(asked) if asked else None
    unknown = None
    if asked and canonical is None:
        unknown = asked if len(asked) <= UNKNOWN_FORMAT_SHOWN else asked[:UNKNOWN_FORMAT_SHOWN] + "…"
    fmt = canonical or (canonical_format_id(remembered) if remembered else None) or FORMATS[0]
    if available and fmt not in available:
        fmt = available[0]
    return FormatChoice(fmt, tuple(available), remember=canonical, unknown=unknown)


@dataclass(frozen=True)
class ZipLink:
    """The pack's or an album's zip in the page's format; ``downloads`` counts completed ones."""

    url: str
    size: int
    downloads: int


@dataclass(frozen=True)
class TrackRow:
    """One line of an album's tracks: ``url`` (its download in the page's format) is None
    without a file in that format; ``stream_url`` (what the page's player plays, see
    :data:`shop.formats.STREAM_FORMATS`) is None without a file the player can stream."""

    id: int
    number: str
    title: str
    url: str | None
    downloads: int
    stream_url: str | None = None


@dataclass(frozen=True)
class AlbumDownloads:
    """An album on the order page: its links in the page's format only; ``zip`` is None when
    none of its tracks has a file in that format."""

    id: int
    title: str
    artist: str
    cover_url: str
    zip: ZipLink | None
    tracks: tuple[TrackRow, ...]
    bonus: bool = False


def album_downloads(token: str, pack: Pack, albums: Sequence[AlbumLayout], fmt: str,
                    counts: dict[CountKey, int]) -> list[AlbumDownloads]:
    """What the page shows of each album, in ``fmt``: plain values, so that the template only
    loops and prints (rendering was most of the page's time)."""
    album_url = link_maker("downloads.album", "album_id", token=token, fmt=fmt)
    track_url = link_maker("downloads.track", "track_id", token=token, fmt=fmt)
    listen_url = link_maker("downloads.listen", "track_id", token=token)
    cover_url = link_maker("store.cover", "album_id", slug=pack.slug)
    rows = []
    for album in albums:
        size = album.sizes.get(fmt)
        zip_link = None if size is None else ZipLink(album_url(album.id), size, counts.get(("album", album.id, fmt), 0))
        tracks = tuple(
            TrackRow(t.id, f"{t.number:02d}", t.title, track_url(t.id) if fmt in t.formats else None,
                     counts.get(("track", t.id, fmt), 0),
                     listen_url(t.id) if stream_format(t.formats) is not None else None)
            for t in album.tracks
        )
        rows.append(AlbumDownloads(album.id, album.title, album.artist, cover_url(album.id), zip_link, tracks,
                                   album.bonus))
    return rows


@dataclass(frozen=True)
class PlaylistEntry:
    """One track of the order page's player, in the order the page lists them."""

    id: int
    title: str
    artist: str
    url: str


def player_playlist(albums: Sequence[AlbumDownloads]) -> tuple[PlaylistEntry, ...]:
    """Every track of the order that the player can stream, album by album."""
    return tuple(PlaylistEntry(t.id, t.title, a.artist, t.stream_url)
                 for a in albums for t in a.tracks if t.stream_url is not None)


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
        sizes = {
            fmt: sum(files.get(t.id, {}).get(fmt, 0) for t in album.tracks)
            for fmt in FORMATS if any(fmt in t.formats for t in tracks)
        }
        layouts.append(AlbumLayout(album.id, album.title, album.artist, tracks, sizes, album.is_bonus))
    return tuple(layouts)


def album_layouts(pack: Pack, state: CatalogState) -> tuple[AlbumLayout, ...]:
    if not state.cacheable(pack, utcnow()):
        return read_album_layouts(pack.id)
    return cached(("album layouts", pack.id, state.version), lambda: read_album_layouts(pack.id))


def pack_formats(albums: Sequence[AlbumLayout]) -> tuple[str, ...]:
    """The formats the pack has at least one file in, in display order."""
    return tuple(fmt for fmt in FORMATS if any(fmt in album.sizes for album in albums))


def order_page_context(order: Order, pack: Pack, state: CatalogState, token: str, asked_format: str | None = None,
                       remembered_format: str | None = None) -> dict[str, Any]:
    """Template context for ``orders/show.html``: a fixed number of queries, whatever the
    number of albums, tracks, deliveries and counts (tests/test_query_counts.py).

    :param asked_format: the ``?format=`` value, if any; ignored unless the order is paid.
    :param remembered_format: the buyer's format cookie, if any.

    ``format_choice`` (a :class:`FormatChoice`) says whether the request named an unknown
    format and which format to remember.
    """
    counts = download_counts(order) if order.is_paid else {}
    if order.is_paid:
        # The albums the order holds (Order.gets_album: one album's order only that one; the
        # bonus album only for an order that beat the average).
        albums = tuple(a for a in album_layouts(pack, state) if (
            a.id == order.album_id if order.album_id is not None else order.bonus_unlocked or not a.bonus))
        choice = choose_format(asked_format, remembered_format, pack_formats(albums))
    else:
        albums, choice = (), FormatChoice(FORMATS[0], ())
    fmt = choice.format
    pack_zip = None
    if fmt in choice.available:
        pack_zip = ZipLink(url_for("downloads.pack", token=token, fmt=fmt), sum(a.sizes.get(fmt, 0) for a in albums),
                           counts.get(("pack", None, fmt), 0))
    rows = album_downloads(token, pack, albums, fmt, counts)
    playlist = player_playlist(rows)
    return {
        "order": order,
        "payment": payment_state(order, token),
        "pack": pack,
        "format_choice": choice,
        "chosen_format": fmt,
        "chosen_label": FORMATS_BY_ID[fmt].label,
        # (id, description, the size of everything the order holds in it)
        "format_options": [(f, FORMATS_BY_ID[f].description, sum(a.sizes.get(f, 0) for a in albums))
                           for f in choice.available],
        "pack_zip": pack_zip,
        "albums": rows,
        "playlist": playlist,
        "playlist_count": len(playlist),
        "dropbox_album_url": link_maker("dropbox.deliver_album", "album_id", token=token),
        # For an order that is no longer paid, only to show why its deliveries stopped.
        "dropbox": dropbox_state(order),
        "split": split_shown(order),
    }

