"""The audit log: who did what, to what, when and from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shop.admin.models import AuditEvent, Operator
from shop.extensions import db

PAGE_SIZE = 50
RECORDED = "shop.admin.audit_recorded"


def record(operator: Operator | None, action: str, target: str = "", details: dict[str, Any] | None = None,
           ip: str | None = None) -> AuditEvent:
    """Add one event (the caller commits, usually with the change it describes)."""
    event = AuditEvent(operator_id=operator.id if operator is not None else None, action=action,
                       target=target[:200], details=details or {}, ip=ip)
    db.session.add(event)
    db.session.info[RECORDED] = True
    return event


def recorded_since_last_check() -> bool:
    """Whether :func:`record` was called in this session since the last call of this function."""
    return bool(db.session.info.pop(RECORDED, False))


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    page: int
    pages: int
    total: int


def page(number: int, size: int = PAGE_SIZE) -> AuditPage:
    """One page of events, newest first (``number`` starts at 1 and is clamped to the range)."""
    total = int(db.session.scalar(select(func.count(AuditEvent.id))) or 0)
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    events = db.session.scalars(
        select(AuditEvent).options(selectinload(AuditEvent.operator))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(size).offset((number - 1) * size)
    ).all()
    return AuditPage(list(events), number, pages, total)
