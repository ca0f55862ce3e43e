"""The dashboard's numbers, aggregated in SQL. No request objects here.

Money follows :mod:`shop.accounting` (gross, refunded, disputed, net, average): the cards
are its :class:`~shop.accounting.PackMoney`, and each hour's row counts the sales paid in
that hour with their gross and net, so the hour table sums to the cards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, func, select
from sqlalchemy.orm import InstrumentedAttribute

from shop.accounting import IN_GOOD_STANDING, NET, SOLD, PackMoney, pack_money
from shop.downloads.models import DownloadCount
from shop.dropbox.models import Delivery, DeliveryStatus
from shop.extensions import db
from shop.ledger.pack_figures import PartyFigures, pack_parties
from shop.models import FORMATS, Order, Pack, utcnow
from shop.money import average_cents

HOUR = 3600
RECENT_PACKS = 12


@dataclass(frozen=True)
class HourRow:
    start: datetime
    orders: int  # sales paid in this hour, whatever happened to them later
    cents: int  # their gross
    net_cents: int  # their net
    running_average_cents: int  # net over orders in good standing, every sale up to the end of this hour


@dataclass(frozen=True)
class AmountBucket:
    low_cents: int  # inclusive
    high_cents: int  # exclusive
    orders: int


@dataclass(frozen=True)
class FormatRow:
    format: str
    downloads: int
    deliveries: int  # Dropbox deliveries finished in this format


@dataclass(frozen=True)
class PackDashboard:
    pack: Pack
    totals: PackMoney
    hours: list[HourRow]
    amounts: list[AmountBucket]
    formats: list[FormatRow]
    deliveries_by_status: dict[str, int]
    # The ledger's figures per artist, charity, store, Stripe and tax (they add up to totals).
    parties: list[PartyFigures]


def selectable_packs(now: datetime | None = None) -> list[Pack]:
    """Packs on sale now, then the most recent past ones; future packs last."""
    now = now or utcnow()
    packs = db.session.scalars(select(Pack).order_by(Pack.ends_at.desc(), Pack.id.desc())).all()
    on_sale = [p for p in packs if p.is_on_sale(now)]
    past = [p for p in packs if p.has_ended(now)][:RECENT_PACKS]
    upcoming = [p for p in packs if p.starts_at > now]
    return on_sale + past + upcoming


def _epoch_hour(column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> ColumnElement[int]:
    """Whole hours since 1970 of a UTC timestamp column, on SQLite and PostgreSQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / HOUR), Integer)
    return cast(func.strftime("%s", column), Integer) // HOUR


def hourly(pack: Pack, now: datetime | None = None) -> list[HourRow]:
    """One row per hour from the pack's start to its end (or now, while on sale)."""
    now = now or utcnow()
    first = int(pack.starts_at.timestamp()) // HOUR
    last = (int(min(now, pack.ends_at).timestamp()) - 1) // HOUR
    hour = _epoch_hour(Order.paid_at).label("hour")
    rows = db.session.execute(
        select(hour, func.count(Order.id), func.sum(Order.amount_cents), func.sum(NET),
               func.sum(case((IN_GOOD_STANDING, 1), else_=0)))
        .where(Order.pack_id == pack.id, SOLD)
        .group_by(hour)
    ).all()
    by_hour = {int(h): (int(n), int(c), int(net), int(kept)) for h, n, c, net, kept in rows}
    # Sales outside the window (a payment confirmed just after the end) go to the nearest edge.
    if by_hour:
        last = max(last, first)
        clamped: dict[int, tuple[int, int, int, int]] = {}
        for h, values in by_hour.items():
            key = min(max(h, first), last)
            old = clamped.get(key, (0, 0, 0, 0))
            clamped[key] = (old[0] + values[0], old[1] + values[1], old[2] + values[2], old[3] + values[3])
        by_hour = clamped
    result: list[HourRow] = []
    kept_so_far = net_so_far = 0
    for h in range(first, last + 1):
        n, c, net, kept = by_hour.get(h, (0, 0, 0, 0))
        kept_so_far, net_so_far = kept_so_far + kept, net_so_far + net
        start = datetime.fromtimestamp(h * HOUR, tz=pack.starts_at.tzinfo)
        result.append(HourRow(start, n, c, net, average_cents(net_so_far, kept_so_far)))
    return result


def nice_step(largest: int, buckets: int = 8) -> int:
    """A bucket width in cents (1, 2 or 5 times a power of ten dollars or cents) giving at most
    ``buckets`` buckets up to ``largest``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            width = step * factor
            if largest // width < buckets:
                return width
        step *= 10


def amount_histogram(pack_id: int) -> list[AmountBucket]:
    """Paid orders by amount, in equal buckets of a round width, from 0 to the largest amount."""
    largest = db.session.scalar(
        select(func.max(Order.amount_cents)).where(Order.pack_id == pack_id, IN_GOOD_STANDING)
    )
    if largest is None:
        return []
    step = nice_step(int(largest))
    bucket = (Order.amount_cents // step).label("bucket")
    rows = dict(db.session.execute(
        select(bucket, func.count(Order.id))
        .where(Order.pack_id == pack_id, IN_GOOD_STANDING)
        .group_by(bucket)
    ).tuples().all())
    return [AmountBucket(i * step, (i + 1) * step, int(rows.get(i, 0))) for i in range(int(largest) // step + 1)]


def formats(pack_id: int) -> list[FormatRow]:
    """Completed downloads (every kind) and finished Dropbox deliveries, per format."""
    downloads = dict(db.session.execute(
        select(DownloadCount.format, func.sum(DownloadCount.count))
        .join(Order, Order.id == DownloadCount.order_id)
        .where(Order.pack_id == pack_id).group_by(DownloadCount.format)
    ).tuples().all())
    deliveries = dict(db.session.execute(
        select(Delivery.format, func.count(Delivery.id))
        .join(Order, Order.id == Delivery.order_id)
        .where(Order.pack_id == pack_id, Delivery.status == DeliveryStatus.DONE.value)
        .group_by(Delivery.format)
    ).tuples().all())
    return [FormatRow(fmt, int(downloads.get(fmt, 0)), int(deliveries.get(fmt, 0))) for fmt in FORMATS]


def deliveries_by_status(pack_id: int) -> dict[str, int]:
    rows = dict(db.session.execute(
        select(Delivery.status, func.count(Delivery.id))
        .join(Order, Order.id == Delivery.order_id)
        .where(Order.pack_id == pack_id).group_by(Delivery.status)
    ).tuples().all())
    return {status.value: int(rows.get(status.value, 0)) for status in DeliveryStatus}


def dashboard(pack: Pack, now: datetime | None = None) -> PackDashboard:
    return PackDashboard(pack, pack_money(pack.id), hourly(pack, now), amount_histogram(pack.id),
                         formats(pack.id), deliveries_by_status(pack.id), pack_parties(pack.id))

