"""The list, seen from the console and the CLI: its size, announcements (audited) and the
export of confirmed subscribers (audited). The work is in :mod:`shop.mailing`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import func, select

from shop.admin import audit
from shop.admin.models import Operator
from shop.extensions import db
from shop.mailing import announcements
from shop.mailing.models import Announcement, Subscriber, SubscriberStatus
from shop.models import Pack


def list_size() -> dict[str, int]:
    counts = dict(db.session.execute(
        select(Subscriber.status, func.count(Subscriber.id)).group_by(Subscriber.status)).tuples().all())
    return {status.value: int(counts.get(status.value, 0)) for status in SubscriberStatus}


def progress_rows() -> list[announcements.Progress]:
    rows = db.session.scalars(select(Announcement).order_by(Announcement.id.desc())).all()
    return [announcements.progress(a) for a in rows]


def announce(pack: Pack, operator: Operator | None, ip: str | None) -> tuple[Announcement, bool]:
    """Start (or resume) the pack's announcement and enqueue it, audited.

    :raises shop.queue.QueueUnavailable: after the announcement is recorded (the sweep sends it).
    """
    announcement, created = announcements.start(pack)
    audit.record(operator, "mailing.announce" if created else "mailing.announce.again", f"pack:{pack.slug}",
                 {"announcement": announcement.id, "total": announcement.total}, ip)
    db.session.commit()
    announcements.enqueue_announcement(announcement)
    return announcement, created


def export_confirmed(operator: Operator | None, ip: str | None) -> Iterator[str]:
    """Confirmed subscribers as CSV (address, confirmed at, source), after auditing the export."""
    rows = db.session.execute(
        select(Subscriber.email, Subscriber.confirmed_at, Subscriber.source)
        .where(Subscriber.status == SubscriberStatus.CONFIRMED.value).order_by(Subscriber.id)).all()
    audit.record(operator, "mailing.export", "subscribers", {"rows": len(rows)}, ip)
    db.session.commit()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "confirmed_at", "source"])
    for address, confirmed_at, source in rows:
        writer.writerow([address, confirmed_at.isoformat() if confirmed_at else "", source])
    yield out.getvalue()
