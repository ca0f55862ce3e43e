"""Ledger rows made directly for tests of what reads the ledger (statements, the console's
balances, statement mails): one posting per call, with one entry per artist given."""

from __future__ import annotations

import itertools
from datetime import datetime

from shop.artists import Artist
from shop.extensions import db
from shop.ledger.models import EntryKind, LedgerEntry, LedgerPosting, Party, PostingKind
from shop.models import Order, utcnow

_keys = itertools.count(1)

#: The posting kind each entry kind belongs to, for postings made here.
POSTING_OF = {
    EntryKind.SHARE: PostingKind.SALE, EntryKind.FEE: PostingKind.SALE, EntryKind.TAX: PostingKind.SALE,
    EntryKind.REFUND: PostingKind.REFUND, EntryKind.DISPUTE: PostingKind.DISPUTE_WITHDRAWN,
    EntryKind.DISPUTE_FEE: PostingKind.DISPUTE_WITHDRAWN, EntryKind.DISPUTE_REINSTATED: PostingKind.DISPUTE_REINSTATED,
    EntryKind.PAYOUT: PostingKind.PAYOUT, EntryKind.PAYOUT_REVERSAL: PostingKind.PAYOUT_REVERSAL,
}


def post(kind: EntryKind, amounts: dict[Artist, int], *, currency: str = "USD", at: datetime | None = None,
         order: Order | None = None) -> LedgerPosting:
    """One posting of ``kind`` entries (signed amounts, as the ledger keeps them) for the given
    artists, committed."""
    at = at or utcnow()
    posting = LedgerPosting(key=f"test:{kind}:{next(_keys)}", kind=POSTING_OF[kind].value, order=order,
                            currency=currency, amount_cents=sum(amounts.values()), at=at)
    for artist, cents in amounts.items():
        posting.entries.append(LedgerEntry(order_id=order.id if order else None, party=Party.ARTIST.value,
                                           artist_id=artist.id, kind=kind.value, currency=currency,
                                           amount_cents=cents, at=at))
    db.session.add(posting)
    db.session.commit()
    return posting


def sale(artist: Artist, gross: int, fee: int = 0, **kwargs: object) -> None:
    """A sale's share for ``artist`` (and their part of the fee, a positive number here)."""
    post(EntryKind.SHARE, {artist: gross}, **kwargs)  # type: ignore[arg-type]
    if fee:
        post(EntryKind.FEE, {artist: -fee}, **kwargs)  # type: ignore[arg-type]
