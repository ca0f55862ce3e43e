"""The ledger read back: an artist's balance and monthly statements, and per-party totals.

One definition for every page, CSV and command (the console's artist pages, the artist's own
statement link, the payout run):

* **gross**: the artist's shares of what buyers paid (``share`` entries);
* **fees**: their part of Stripe's fees and of tax collected (``fee``, ``tax``, ``dispute_fee``);
* **refunds**: their part of what went back to buyers (``refund``);
* **disputes**: their part of what disputes took, less what won disputes gave back;
* **net earned** = gross − fees − refunds − disputes (the sum of those entries);
* **paid out**: payouts less payouts taken back;
* **balance** at the end of a month = balance at its start + net earned − paid out.

Figures are per currency (an artist in a USD pack and a EUR pack has two statements), in the
currency's minor unit; a month is a calendar month in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, case, func, select

from shop.extensions import db
from shop.ledger.models import EntryKind, LedgerEntry, Party

MONTH_SHAPE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

FEE_KINDS = (EntryKind.FEE.value, EntryKind.TAX.value, EntryKind.DISPUTE_FEE.value)
DISPUTE_KINDS = (EntryKind.DISPUTE.value, EntryKind.DISPUTE_REINSTATED.value)
PAYOUT_KINDS = (EntryKind.PAYOUT.value, EntryKind.PAYOUT_REVERSAL.value)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of ``month`` (``YYYY-MM``) and of the month after, in UTC.

    :raises ValueError: for anything but a real ``YYYY-MM``.
    """
    match = MONTH_SHAPE.fullmatch(month)
    if not match or not 1970 <= int(match[1]) <= 9999:
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    year, number = int(match[1]), int(match[2])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass(frozen=True)
class Statement:
    """One artist's month in one currency; the deductions are positive numbers."""

    artist_id: int
    month: str
    currency: str
    opening_cents: int
    gross_cents: int
    fees_cents: int
    refunds_cents: int
    disputes_cents: int
    paid_out_cents: int

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.fees_cents - self.refunds_cents - self.disputes_cents

    @property
    def closing_cents(self) -> int:
        return self.opening_cents + self.net_cents - self.paid_out_cents

    @property
    def is_empty(self) -> bool:
        return not (self.opening_cents or self.gross_cents or self.fees_cents or self.refunds_cents
                    or self.disputes_cents or self.paid_out_cents)


def _sum_of(kinds: tuple[str, ...], within: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((LedgerEntry.kind.in_(kinds) & within, LedgerEntry.amount_cents),
                                       else_=0)), 0)


def statements(artist_id: int, month: str) -> list[Statement]:
    """The artist's statements for ``month``, one per currency they have any entry in up to the
    month's end, in one query."""
    start, end = month_bounds(month)
    in_month = LedgerEntry.at >= start
    rows = db.session.execute(
        select(
            LedgerEntry.currency,
            func.coalesce(func.sum(case((LedgerEntry.at < start, LedgerEntry.amount_cents), else_=0)), 0),
            _sum_of((EntryKind.SHARE.value,), in_month),
            _sum_of(FEE_KINDS, in_month),
            _sum_of((EntryKind.REFUND.value,), in_month),
            _sum_of(DISPUTE_KINDS, in_month),
            _sum_of(PAYOUT_KINDS, in_month),
        ).where(LedgerEntry.party == Party.ARTIST.value, LedgerEntry.artist_id == artist_id,
                LedgerEntry.at < end)
        .group_by(LedgerEntry.currency).order_by(LedgerEntry.currency)
    ).tuples()
    return [Statement(artist_id, month, currency, int(opening), int(gross), -int(fees), -int(refunds),
                      -int(disputes), -int(paid)) for currency, opening, gross, fees, refunds, disputes, paid in rows]


def balances(artist_id: int | None = None) -> dict[tuple[int, str], int]:
    """What each artist is owed now, by ``(artist id, currency)`` (negative: a refund after a
    payout that the next payout nets off); one artist's when ``artist_id`` is given."""
    query = (select(LedgerEntry.artist_id, LedgerEntry.currency, func.sum(LedgerEntry.amount_cents))
             .where(LedgerEntry.party == Party.ARTIST.value)
             .group_by(LedgerEntry.artist_id, LedgerEntry.currency))
    if artist_id is not None:
        query = query.where(LedgerEntry.artist_id == artist_id)
    return {(int(a), str(c)): int(total) for a, c, total in db.session.execute(query).tuples() if a is not None}
