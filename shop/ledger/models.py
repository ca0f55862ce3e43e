"""The ledger's rows: postings (one movement of money, posted once) and their entries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from shop.artists import Artist
from shop.columns import UTCDateTime, sql_in
from shop.extensions import Model
from shop.models import Order, utcnow


class Party(enum.StrEnum):
    ARTIST = "artist"
    CHARITY = "charity"
    STORE = "store"
    #: Stripe's processing and dispute fees.
    STRIPE = "stripe"
    #: Tax Stripe collected with the payment.
    TAX = "tax"


class EntryKind(enum.StrEnum):
    #: A party's share of what the buyer paid (positive).
    SHARE = "share"
    #: A party's part of Stripe's fee on the payment (negative; the STRIPE party's is positive).
    FEE = "fee"
    #: A party's part of the tax collected (negative; the TAX party's is positive).
    TAX = "tax"
    #: Money given back to the buyer (negative).
    REFUND = "refund"
    #: Money a card dispute took (negative) and gave back when won (positive).
    DISPUTE = "dispute"
    DISPUTE_REINSTATED = "dispute_reinstated"
    #: Stripe's dispute fee, and its return (when Stripe returns it).
    DISPUTE_FEE = "dispute_fee"
    #: Money paid to an artist (negative on the artist), and a payout taken back.
    PAYOUT = "payout"
    PAYOUT_REVERSAL = "payout_reversal"


class PostingKind(enum.StrEnum):
    SALE = "sale"
    REFUND = "refund"
    DISPUTE_WITHDRAWN = "dispute_withdrawn"
    DISPUTE_REINSTATED = "dispute_reinstated"
    PAYOUT = "payout"
    PAYOUT_REVERSAL = "payout_reversal"


class AppendOnlyError(RuntimeError):
    """A ledger row was about to be changed or deleted: the ledger only grows."""


class LedgerPosting(Model):
    """One movement of money, posted once (``key`` is unique: ``sale:<order id>``,
    ``refund:<Stripe refund id>``, ``payout:<payout id>``, ...). ``at`` is when it happened (what
    monthly statements group by, in UTC); its entries sum to ``amount_cents``."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint(sql_in("kind", PostingKind), name="ck_ledger_postings_kind"),
        Index("ix_ledger_postings_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[Order | None] = relationship()
    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="posting", order_by="LedgerEntry.id")


class LedgerEntry(Model):
    """One party's part of a posting, in the posting's currency's minor unit (signed)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(sql_in("party", Party), name="ck_ledger_entries_party"),
        CheckConstraint(sql_in("kind", EntryKind), name="ck_ledger_entries_kind"),
        CheckConstraint("(party = 'artist') = (artist_id IS NOT NULL)", name="ck_ledger_entries_artist"),
        Index("ix_ledger_entries_artist", "artist_id", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("ledger_postings.id"), index=True)
    # Denormalised from the posting so that a balance is one indexed sum over this table.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    party: Mapped[str] = mapped_column(String(16))
    artist_id: Mapped[int | None] = mapped_column(ForeignKey("artists.id"))
    kind: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    posting: Mapped[LedgerPosting] = relationship(back_populates="entries")
    artist: Mapped[Artist | None] = relationship()


class PayoutStatus(enum.StrEnum):
    #: Decided and about to be sent (a Stripe transfer is created with the payout's idempotency key).
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Payout(Model):
    """Money paid to one artist: a Stripe transfer or a payment the operator made by hand.

    A payout is decided (``pending``, with its ``idempotency_key``) and committed before any
    call to Stripe, so a run killed between the transfer and the record finds the pending row,
    repeats the call with the same key and gets the same transfer back; its ledger posting
    (``payout:<id>``) is added when it is ``sent``.
    """

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="ck_payouts_amount"),
        CheckConstraint(sql_in("status", PayoutStatus), name="ck_payouts_status"),
        CheckConstraint("method IN ('stripe', 'manual')", name="ck_payouts_method"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PayoutStatus.PENDING.value)
    # One run of `flask payouts run` (its start, as an id shared by its payouts); None: manual.
    run_key: Mapped[str | None] = mapped_column(String(64), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # The Stripe transfer (tr_...) or the operator's reference for a manual payment.
    reference: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(String(500), default="", server_default="")
    error: Mapped[str | None] = mapped_column(String(500))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    artist: Mapped[Artist] = relationship()


def _refuse_change(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    raise AppendOnlyError(f"{type(target).__name__} {target.id} may not be changed or deleted: post a correction")


for _model in (LedgerPosting, LedgerEntry):
    event.listen(_model, "before_update", _refuse_change)
    event.listen(_model, "before_delete", _refuse_change)
