"""The list's rows: subscribers (with the proof of their consent), announcements and their sends.

A subscriber row is never deleted: an unsubscribed address stays on file as suppressed, so
no later sign-up form, checkout box or import mails it again without a new confirmation.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.columns import UTCDateTime, sql_in
from shop.extensions import Model
from shop.models import Pack, utcnow


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"  # asked, not confirmed: never mailed but the confirmation
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class Subscriber(Model):
    __tablename__ = "subscribers"
    __table_args__ = (
        CheckConstraint(sql_in("status", SubscriberStatus), name="ck_subscribers_status"),
        CheckConstraint("email = lower(email)", name="ck_subscribers_email_lower"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.PENDING.value)
    # Proof of consent (GDPR Art. 7(1)): when and where it was asked, what the form said, when
    # confirmed, and when and how it was withdrawn.
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source: Mapped[str] = mapped_column(String(300), default="")
    wording: Mapped[str] = mapped_column(String(32), default="")
    request_ip: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribe_method: Mapped[str | None] = mapped_column(String(32))


class Announcement(Model):
    """One pack's announcement to the list; the subscribers it goes to are fixed when it starts
    (its :class:`AnnouncementSend` rows), so later sign-ups are not mailed about it."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    total: Mapped[int] = mapped_column(Integer, default=0)
    # Started by the worker's sweep when the pack's sale began, not by a person.
    automatic: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The worker sending it, and when it last sent (a silent one died; another takes over).
    worker: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    pack: Mapped[Pack] = relationship()


class SendStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # handed to SMTP; a crash before "sent" sends it again
    SENT = "sent"
    SKIPPED = "skipped"  # unsubscribed before its turn


class AnnouncementSend(Model):
    __tablename__ = "announcement_sends"
    __table_args__ = (
        UniqueConstraint("announcement_id", "subscriber_id", name="uq_announcement_sends_once"),
        CheckConstraint(sql_in("status", SendStatus), name="ck_announcement_sends_status"),
        Index("ix_announcement_sends_todo", "announcement_id", "status", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    status: Mapped[str] = mapped_column(String(16), default=SendStatus.PENDING.value)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
