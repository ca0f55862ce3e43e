"""A pack's money per party, read from the ledger: what the dashboard's "per artist" table shows.

One row per artist, then the charity, the store, Stripe and tax, with the same columns as a
statement (:mod:`shop.ledger.statements`) but signed, so that each row adds across and each
column adds down: **gross** (shares of what buyers paid), **fees** (Stripe's fee and dispute
fees, and tax, as parts taken off; Stripe's and the tax party's rows are positive), **refunds**
and **disputes** (negative; a won dispute gives back), **net**. The rows' gross is the pack's
gross and their net the pack's net (:mod:`shop.accounting`) for every order posted. Payouts are
not a pack's: they are left out. One query per pack.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select

from shop.artists import Artist
from shop.extensions import db
from shop.ledger.models import EntryKind, LedgerEntry, Party
from shop.ledger.statements import DISPUTE_KINDS, FEE_KINDS, PAYOUT_KINDS
from shop.models import Order

#: The rows after the artists', in this order.
PARTY_ORDER = (Party.CHARITY.value, Party.STORE.value, Party.STRIPE.value, Party.TAX.value)


@dataclass(frozen=True)
class PartyFigures:
    party: str
    artist_id: int | None
    name: str  # the artist's name, or the party's ("store", "stripe", ...)
    gross_cents: int
    fees_cents: int
    refunds_cents: int
    disputes_cents: int

    @property
    def net_cents(self) -> int:
        return self.gross_cents + self.fees_cents + self.refunds_cents + self.disputes_cents


def _sum(kinds: tuple[str, ...]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((LedgerEntry.kind.in_(kinds), LedgerEntry.amount_cents), else_=0)), 0)


def pack_parties(pack_id: int) -> list[PartyFigures]:
    """The pack's figures per party: artists by name, then charity, store, Stripe and tax."""
    rows = db.session.execute(
        select(LedgerEntry.party, LedgerEntry.artist_id, Artist.name, _sum((EntryKind.SHARE.value,)),
               _sum(FEE_KINDS), _sum((EntryKind.REFUND.value,)), _sum(DISPUTE_KINDS))
        .join(Order, Order.id == LedgerEntry.order_id)
        .outerjoin(Artist, Artist.id == LedgerEntry.artist_id)
        .where(Order.pack_id == pack_id, LedgerEntry.kind.not_in(PAYOUT_KINDS))
        .group_by(LedgerEntry.party, LedgerEntry.artist_id, Artist.name)
    ).tuples().all()
    figures = [PartyFigures(party, artist_id, name or party, int(gross), int(fees), int(refunds), int(disputes))
               for party, artist_id, name, gross, fees, refunds, disputes in rows]

    def place(row: PartyFigures) -> tuple[int, str, int]:
        if row.party == Party.ARTIST.value:
            return (0, row.name.casefold(), row.artist_id or 0)
        return (1 + PARTY_ORDER.index(row.party), "", 0)

    return sorted(figures, key=place)
