"""The audit log in the console: recording what operators and commands did, and its pages.
The rows and the writing itself are on the ground floor (:mod:`shop.audit_log`), where parts of
the store below the console record too (a giver's gift resend)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shop import ratelimit
from shop.admin.models import Operator
from shop.audit_log import RECORDED, AuditEvent, record_event
from shop.extensions import db
from shop.models import utcnow

PAGE_SIZE = 50


def record(operator: Operator | None, action: str, target: str = "", details: dict[str, Any] | None = None,
           ip: str | None = None) -> AuditEvent:
    """Add one event (the caller commits, usually with the change it describes)."""
    return record_event(operator.id if operator is not None else None, action, target, details, ip)


def export(operator: Operator, action: str, target: str, rows: int, ip: str | None) -> None:
    """Record (and commit) that ``operator`` took buyer data away: ``rows`` rows of ``target``.

    Exports are GETs, which :func:`shop.admin.views.audit_every_post` never sees.
    """
    record(operator, action, target, {"rows": rows}, ip)
    db.session.commit()


def record_command(action: str, target: str = "", details: dict[str, Any] | None = None) -> AuditEvent:
    """Add one event for a CLI command (no operator; the OS user in the details; the caller commits)."""
    return record(None, action, target, {**(details or {}), "cli_user": _os_user()})


def count_refusal(action: str, target: str, ip: str | None, window: timedelta,
                  now: datetime | None = None) -> AuditEvent:
    """Count one refused request: one row per ``(action, target, ip)`` and fixed window of
    length ``window``, whose ``details["count"]`` goes up, instead of a row each (a client
    must not bury the real events under its refusals). The caller commits.
    """
    now = now or utcnow()
    start = datetime.fromtimestamp(now.timestamp() // window.total_seconds() * window.total_seconds(), UTC)
    ratelimit.lock(f"audit:{action}:{target}:{ip}")
    same_ip = AuditEvent.ip.is_(None) if ip is None else AuditEvent.ip == ip
    row = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.target == target[:200], same_ip, AuditEvent.at >= start)
        .order_by(AuditEvent.id.desc()).limit(1)
    )
    if row is None:
        return record(None, action, target, {"count": 1, "last": now.isoformat(timespec="seconds")}, ip)
    row.details = {**row.details, "count": int(row.details.get("count", 1)) + 1,
                   "last": now.isoformat(timespec="seconds")}
    db.session.info[RECORDED] = True
    return row


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


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
