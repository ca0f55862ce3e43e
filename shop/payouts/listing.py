"""Payouts read back for the console: the runs of ``flask payouts run``, recent payouts, and one
artist's payouts with what they are owed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shop.artists import Artist
from shop.extensions import db
from shop.ledger.models import Payout, PayoutStatus
from shop.ledger.statements import balances


@dataclass
class RunSummary:
    run_key: str
    started_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    #: Sent, by currency.
    paid: dict[str, int] = field(default_factory=dict)


def runs(limit: int = 50) -> list[RunSummary]:
    """The newest runs first, each with its payouts counted by status and its sent totals."""
    keys = db.session.execute(
        select(Payout.run_key, func.min(Payout.created_at).label("started"))
        .where(Payout.run_key.is_not(None)).group_by(Payout.run_key)
        .order_by(func.min(Payout.created_at).desc(), Payout.run_key.desc()).limit(limit)
    ).tuples().all()
    summaries = {key: RunSummary(key, started) for key, started in keys if key is not None}
    if not summaries:
        return []
    rows = db.session.execute(
        select(Payout.run_key, Payout.status, Payout.currency, func.count(Payout.id), func.sum(Payout.amount_cents))
        .where(Payout.run_key.in_(summaries)).group_by(Payout.run_key, Payout.status, Payout.currency)
    ).tuples()
    for key, status, currency, count, total in rows:
        summary = summaries[str(key)]
        summary.counts[status] = summary.counts.get(status, 0) + int(count)
        if status == PayoutStatus.SENT.value:
            summary.paid[currency] = summary.paid.get(currency, 0) + int(total or 0)
    return list(summaries.values())


def recent_payouts(limit: int = 200, artist_id: int | None = None, run_key: str | None = None) -> list[Payout]:
    query = select(Payout).options(selectinload(Payout.artist)).order_by(Payout.id.desc()).limit(limit)
    if artist_id is not None:
        query = query.where(Payout.artist_id == artist_id)
    if run_key is not None:
        query = query.where(Payout.run_key == run_key)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class ArtistPayouts:
    """What the artist page's payout panel shows."""

    artist: Artist
    payouts: list[Payout]
    #: What the artist is owed now, by currency (negative: paid ahead of earnings).
    owed: dict[str, int]


def artist_payouts(artist: Artist) -> ArtistPayouts:
    owed: dict[str, int] = defaultdict(int)
    for (_artist, currency), amount in balances(artist.id).items():
        owed[currency] += amount
    return ArtistPayouts(artist, recent_payouts(artist_id=artist.id), dict(sorted(owed.items())))
