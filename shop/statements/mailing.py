"""The monthly statement mail: each artist with an e-mail and a balance or sales in the month
gets one mail with a fresh statement link, once per artist and month.

The ``statement_mails`` row (unique per artist and month) is the "once": a run inserts and
commits it first, then sends, then sets ``sent_at``. A second run finds the row and sends
nothing. A run killed between the insert and the send leaves a row without ``sent_at``: the
next run that finds it unsent and older than :data:`RESEND_UNSENT_AFTER` takes it over (a
compare-and-set on ``created_at``, so two runs cannot both take it) and sends. The choice:
a run killed after the SMTP server accepted the mail but before ``sent_at`` was committed
sends that one mail again (at least once, never silently lost), and an unsent row younger
than the grace period is left to the run that is presumably still sending it. A refused
send removes the row (and revokes the unused link) so the next run tries again at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from shop.artists import Artist, StatementLink, StatementMail
from shop.extensions import db
from shop.ledger.statements import Statement, month_bounds, statements
from shop.mail import MailError, compose, send
from shop.models import utcnow
from shop.order_links import hash_token
from shop.statements import links
from shop.urls import absolute_url

log = logging.getLogger(__name__)

#: An unsent statement mail row older than this belongs to a run that was killed: take it over.
RESEND_UNSENT_AFTER = timedelta(minutes=5)


@dataclass
class SendReport:
    month: str
    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    no_email: list[str] = field(default_factory=list)


def has_something(rows: list[Statement]) -> bool:
    """A balance to carry or sales in the month, in any currency."""
    return any(s.closing_cents or s.gross_cents for s in rows)


def _claim(artist: Artist, month: str, now: datetime) -> str:
    """``claimed``, ``sent`` (done before) or ``busy`` (another run is sending it)."""
    try:
        db.session.add(StatementMail(artist_id=artist.id, month=month, created_at=now))
        db.session.commit()
        return "claimed"
    except IntegrityError:
        db.session.rollback()
    row = db.session.scalar(select(StatementMail).where(StatementMail.artist_id == artist.id,
                                                          StatementMail.month == month))
    if row is None:  # removed after a refused send, meanwhile: leave it to the next run
        return "busy"
    if row.sent_at is not None:
        return "sent"
    if row.created_at > now - RESEND_UNSENT_AFTER:
        return "busy"
    taken = db.session.execute(update(StatementMail).where(
        StatementMail.id == row.id, StatementMail.sent_at.is_(None),
        StatementMail.created_at == row.created_at).values(created_at=now))
    db.session.commit()
    return "claimed" if taken.rowcount == 1 else "busy"  # type: ignore[attr-defined]


def send_statements(month: str, now: datetime | None = None) -> SendReport:
    """Mail every artist who has something in ``month`` (see the module docstring).

    :raises ValueError: when ``month`` is not a ``YYYY-MM`` month.
    """
    month_bounds(month)
    now = now or utcnow()
    report = SendReport(month=month)
    for artist in db.session.scalars(select(Artist).order_by(Artist.id)).all():
        rows = statements(artist.id, month)
        if not has_something(rows):
            continue
        label = f"{artist.name} (#{artist.id})"
        if not artist.email:
            report.no_email.append(label)
            continue
        state = _claim(artist, month, now)
        if state != "claimed":
            (report.already_sent if state == "sent" else report.in_progress).append(label)
            continue
        token = links.mint(artist)
        db.session.commit()
        try:
            message = compose(artist.email, f"Your statement for {month}", "statements/mail/statement",
                              artist=artist, month=month, rows=rows,
                              link=absolute_url("statements.show", token=token))
            send(message)
        except MailError as exc:
            log.warning("statement mail for artist %s, %s, not sent: %s", artist.id, month, exc)
            db.session.execute(delete(StatementMail).where(StatementMail.artist_id == artist.id,
                                                             StatementMail.month == month))
            db.session.execute(update(StatementLink).where(StatementLink.token_hash == hash_token(token))
                               .values(revoked_at=utcnow()))
            db.session.commit()
            report.failed.append(label)
            continue
        db.session.execute(update(StatementMail).where(StatementMail.artist_id == artist.id,
                                                         StatementMail.month == month)
                           .values(sent_at=utcnow()))
        db.session.commit()
        report.sent.append(label)
    return report

