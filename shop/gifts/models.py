"""A gift is one order's second person: who gets the music, when, and with what message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.columns import UTCDateTime
from shop.extensions import Model
from shop.models import Order

MESSAGE_MAX = 500


class Gift(Model):
    __tablename__ = "gifts"
    __table_args__ = (
        CheckConstraint("recipient_email = lower(recipient_email)", name="ck_gifts_recipient_lower"),
        CheckConstraint(f"length(message) <= {MESSAGE_MAX}", name="ck_gifts_message_length"),
        Index("ix_gifts_due", "sent_at", "deliver_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    recipient_email: Mapped[str] = mapped_column(String(254), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    # When the recipient's mail goes out (the chosen day at 00:00 UTC, or the payment itself).
    deliver_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A send in progress (claimed; stale after a while) and the first successful one.
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sends: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))

    order: Mapped[Order] = relationship()
