"""What an artist's statement page and mail show, gathered without Flask's request: their
statements month by month (figures from :mod:`shop.ledger.statements`, never computed here)
and their albums' sales per pack and format."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select

from shop.artists import Artist
from shop.downloads.models import DownloadCount
from shop.extensions import db
from shop.ledger.models import LedgerEntry, Party
from shop.ledger.statements import Statement, month_bounds, statements
from shop.models import Album, Order, OrderStatus, Pack, utcnow

#: The statement page lists at most this many months, newest first.
MAX_MONTHS = 36


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def previous_month(month: str) -> str:
    start, _ = month_bounds(month)
    return f"{start.year - 1:04d}-12" if start.month == 1 else f"{start.year:04d}-{start.month - 1:02d}"


def first_month(artist_id: int) -> str | None:
    """The month of the artist's first ledger entry, or None when there is none."""
    first = db.session.scalar(select(func.min(LedgerEntry.at)).where(
        LedgerEntry.party == Party.ARTIST.value, LedgerEntry.artist_id == artist_id))
    return None if first is None else month_of(first)


def months_with_statements(artist_id: int, now: datetime | None = None) -> list[str]:
    """Every month from the artist's first entry to this one, newest first (at most :data:`MAX_MONTHS`)."""
    start = first_month(artist_id)
    if start is None:
        return []
    month = month_of(now or utcnow())
    months: list[str] = []
    while month >= start and len(months) < MAX_MONTHS:
        months.append(month)
        month = previous_month(month)
    return months


def statement_history(artist_id: int, now: datetime | None = None) -> list[tuple[str, list[Statement]]]:
    """``(month, statements)`` for every month of :func:`months_with_statements`, newest first."""
    return [(month, statements(artist_id, month)) for month in months_with_statements(artist_id, now)]


@dataclass
class AlbumSales:
    """One album's sales: orders in good standing that include it, and which formats those
    orders downloaded it in (album zips and whole-pack zips, counted once per order)."""

    album: Album
    pack: Pack
    orders: int = 0
    formats: dict[str, int] = field(default_factory=dict)


def _includes(album: Album) -> ColumnElement[bool]:
    """Orders that include ``album`` (see :meth:`shop.models.Order.gets_album`)."""
    whole_pack: ColumnElement[bool] = Order.album_id.is_(None)
    if album.is_bonus:
        whole_pack = and_(whole_pack, Order.bonus_unlocked.is_(True))
    return and_(Order.pack_id == album.pack_id, or_(whole_pack, Order.album_id == album.id))


def album_sales(artist: Artist) -> list[AlbumSales]:
    """The artist's albums, each with its sales, newest pack first."""
    rows: list[AlbumSales] = []
    albums = sorted(artist.albums, key=lambda a: (-a.pack.starts_at.timestamp(), a.pack_id, a.position))
    for album in albums:
        included = _includes(album)
        orders = db.session.scalar(select(func.count(Order.id)).where(
            included, Order.status == OrderStatus.PAID.value)) or 0
        by_format: dict[str, int] = defaultdict(int)
        downloaded = (select(DownloadCount.format, func.count(func.distinct(DownloadCount.order_id)))
                      .join(Order, Order.id == DownloadCount.order_id)
                      .where(included, Order.status == OrderStatus.PAID.value,
                             or_(and_(DownloadCount.kind == "album", DownloadCount.item_id == album.id),
                                 DownloadCount.kind == "pack"))
                      .group_by(DownloadCount.format))
        for fmt, count in db.session.execute(downloaded).tuples():
            by_format[str(fmt)] += int(count)
        rows.append(AlbumSales(album=album, pack=album.pack, orders=int(orders), formats=dict(by_format)))
    return rows
