"""The audit log's rows, and how one is written: who did what, to what, when and from where.

It sits on the ground floor so that any part of the store can record what a person did (the
console's operators, a giver sending their gift again from the gift page); the console reads
the log and shows it (:mod:`shop.admin.audit`), and its operators live there too
(:mod:`shop.admin.models`), which the row's ``operator`` reaches by name only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.columns import UTCDateTime
from shop.extensions import Model, db
from shop.models import utcnow

#: Set in the session's ``info`` by :func:`record_event` (see ``shop.admin.audit.recorded_since_last_check``).
RECORDED = "shop.admin.audit_recorded"


class AuditEvent(Model):
    """One thing a person did (or tried: failed logins have no operator)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # A shop.admin.models.Operator (or None): named, not imported, since the console is above.
    operator: Mapped[Any] = relationship("Operator")


def record_event(operator_id: int | None, action: str, target: str = "", details: dict[str, Any] | None = None,
                 ip: str | None = None) -> AuditEvent:
    """Add one event (the caller commits, usually with the change it describes)."""
    event = AuditEvent(operator_id=operator_id, action=action, target=target[:200], details=details or {}, ip=ip)
    db.session.add(event)
    db.session.info[RECORDED] = True
    return event
