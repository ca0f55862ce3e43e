"""Download codes and the batches they are made in.

A code is stored twice: as the SHA-256 of its normalised text (unique, what a redemption
looks up) and encrypted with the token keys (what the console's CSV export decrypts), so the
database alone does not hand out working codes. A code opens one order: ``order_id`` is
unique, and the order's ``(payment_provider, payment_ref)`` is ``("code", "code-<id>")``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.columns import UTCDateTime
from shop.crypto import ENCRYPTED
from shop.extensions import Model
from shop.models import Album, Order, Pack, utcnow


class CodeBatch(Model):
    """N codes made at once for one pack, or for one album of it."""

    __tablename__ = "code_batches"
    __table_args__ = (CheckConstraint("size > 0", name="ck_code_batches_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id"), index=True)
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id"))
    label: Mapped[str] = mapped_column(String(120), default="")
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who made it, as text: the console's operators live on a floor above this package.
    created_by: Mapped[str] = mapped_column(String(254), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    pack: Mapped[Pack] = relationship()
    album: Mapped[Album | None] = relationship()


class DownloadCode(Model):
    __tablename__ = "download_codes"
    __table_args__ = (
        CheckConstraint("(redeemed_at IS NULL) = (order_id IS NULL)", name="ck_download_codes_redeemed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("code_batches.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_enc: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    batch: Mapped[CodeBatch] = relationship()
    order: Mapped[Order | None] = relationship()
