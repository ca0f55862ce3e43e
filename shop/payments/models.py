"""What the store remembers of a payment provider's events: each event id once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shop.extensions import Model
from shop.models import UTCDateTime, utcnow


class PaymentEvent(Model):
    """One webhook event, recorded before it is acted on.

    The unique ``event_id`` makes a redelivered event (Stripe delivers at least once) a
    no-op once ``processed_at`` is set; an event whose processing failed stays unprocessed
    and is acted on when the provider retries it.
    """

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
