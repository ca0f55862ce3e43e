"""What the store remembers of a payment provider's events: each event id once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shop.columns import UTCDateTime
from shop.extensions import Model
from shop.models import utcnow


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


class CheckoutSession(Model):
    """A Checkout Session the store created, with what it asked for.

    Only a session recorded here pays an order, and only for the amount and currency it
    was made with (a session made elsewhere on the same Stripe account names an order in
    its metadata just as easily). The buyer's return is looked up here before Stripe is
    asked anything. ``payment_intent_id`` is the payment the session made once it is known;
    ``refund_id`` is set when that payment was a second one for an order already paid and
    was sent back; ``failed_at`` when a delayed payment failed and the buyer was told.
    """

    __tablename__ = "checkout_sessions"
    __table_args__ = (CheckConstraint("amount_cents >= 0", name="ck_checkout_sessions_amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(255), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    refund_id: Mapped[str | None] = mapped_column(String(255))
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
