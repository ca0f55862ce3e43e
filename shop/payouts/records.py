"""Writing payouts down: one artist at a time, and a sent payout with its ledger posting in one
transaction.

A payout becomes money out of the artist's balance only through its ``payout:<id>`` posting (one
entry, party ``artist``, kind ``payout``, minus the amount), written in the same transaction that
marks the payout ``sent``; so a balance never counts a payout twice or misses a sent one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from shop.artists import Artist
from shop.extensions import db
from shop.ledger.models import EntryKind, LedgerEntry, LedgerPosting, Party, Payout, PayoutStatus, PostingKind
from shop.models import utcnow


def lock_artist(artist_id: int) -> None:
    """Hold the artist's row until the transaction ends, so that deciding a payout (reading the
    balance, then writing the payout) happens for one artist at a time: PostgreSQL takes a row
    lock and reads later commits in the next statements (READ COMMITTED); on SQLite this first
    write takes the database write lock, and the reads after it see the latest data."""
    db.session.execute(update(Artist).where(Artist.id == artist_id).values(id=Artist.id)
                       .execution_options(synchronize_session=False))


def add_posting(payout: Payout, at: datetime) -> LedgerPosting:
    """The payout's ledger posting (not committed); the payout must have its id."""
    posting = LedgerPosting(key=f"payout:{payout.id}", kind=PostingKind.PAYOUT.value, order_id=None,
                            currency=payout.currency, amount_cents=-payout.amount_cents, at=at)
    posting.entries.append(LedgerEntry(order_id=None, party=Party.ARTIST.value, artist_id=payout.artist_id,
                                       kind=EntryKind.PAYOUT.value, currency=payout.currency,
                                       amount_cents=-payout.amount_cents, at=at))
    db.session.add(posting)
    return posting


def mark_sent(payout_id: int, reference: str) -> bool:
    """A pending payout is sent (``reference``: the Stripe transfer), with its posting; committed.
    False (nothing written) when it is no longer pending: another run recorded it first."""
    now = utcnow()
    changed = db.session.execute(
        update(Payout).where(Payout.id == payout_id, Payout.status == PayoutStatus.PENDING.value)
        .values(status=PayoutStatus.SENT.value, reference=reference, sent_at=now, error=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        db.session.rollback()
        return False
    payout = db.session.get(Payout, payout_id)
    assert payout is not None
    db.session.refresh(payout)
    add_posting(payout, now)
    db.session.commit()
    return True


def mark_failed(payout_id: int, error: str) -> bool:
    """A pending payout failed (Stripe refused it); committed. The balance is untouched, so the
    next run decides a new payout."""
    changed = db.session.execute(
        update(Payout).where(Payout.id == payout_id, Payout.status == PayoutStatus.PENDING.value)
        .values(status=PayoutStatus.FAILED.value, error=error[:500])
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return bool(changed == 1)
