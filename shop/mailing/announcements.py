"""Announcing a pack to the list, from the worker: batched, rate-limited, resumable, once.

Starting an announcement writes one :class:`AnnouncementSend` row per confirmed subscriber
(unique per announcement and subscriber; the announcement is unique per pack), so the
audience is fixed at the start and a second start adds nothing. The job then works through
the rows in subscriber order, :data:`BATCH` at a time, at most ``MAIL_RATE`` mails a second:
each row is marked ``sending`` and committed before the SMTP hand-over, and ``sent`` after
it. A worker killed mid-way leaves its announcement without heartbeat; the worker's sweep
re-enqueues it and the next job carries on from the first row not ``sent``. A row left in
``sending`` (the kill came during that one SMTP conversation) is sent again: at most that one
mail can be doubled, never lost, and it carries the same Message-ID so receivers can fold it.
Whether the subscriber is still confirmed is checked at send time, not just at the start.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop import mail
from shop.extensions import db
from shop.mailing.models import Announcement, AnnouncementSend, SendStatus, Subscriber, SubscriberStatus
from shop.mailing.subscriptions import list_message
from shop.models import Pack, utcnow
from shop.queue import QueueUnavailable, enqueue, job_is_waiting
from shop.urls import absolute_url

log = logging.getLogger(__name__)

BATCH = 100
JOB = "shop.mailing.announcements.run_announcement"
MAIL_QUEUE = "mail"


def job_id(announcement_id: int) -> str:
    return f"announcement-{announcement_id}"


def stale_after() -> timedelta:
    return timedelta(seconds=current_app.config["ANNOUNCE_STALE_SECONDS"])


@dataclass(frozen=True)
class Progress:
    announcement: Announcement
    sent: int
    skipped: int

    @property
    def done(self) -> bool:
        return self.announcement.finished_at is not None


def start(pack: Pack, automatic: bool = False) -> tuple[Announcement, bool]:
    """The pack's announcement, created with its audience if there is none yet; True if created.
    Commits. Enqueue it with :func:`enqueue_announcement`.

    The announcement's unique ``pack_id`` decides between two callers at once: the second one's
    insert waits for the first one's commit, fails, and it returns the first one's row.
    """
    existing = db.session.scalar(select(Announcement).where(Announcement.pack_id == pack.id))
    if existing is not None:
        return existing, False
    announcement = Announcement(pack_id=pack.id, automatic=automatic)
    db.session.add(announcement)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(select(Announcement).where(Announcement.pack_id == pack.id))
        assert existing is not None  # the row that won the race is committed
        return existing, False
    db.session.execute(insert(AnnouncementSend).from_select(
        ["announcement_id", "subscriber_id", "status"],
        select(literal(announcement.id), Subscriber.id, literal(SendStatus.PENDING.value))
        .where(Subscriber.status == SubscriberStatus.CONFIRMED.value)))
    announcement.total = int(db.session.scalar(
        select(func.count(AnnouncementSend.id)).where(AnnouncementSend.announcement_id == announcement.id)) or 0)
    if announcement.total == 0:
        announcement.finished_at = utcnow()
    db.session.commit()
    return announcement, True


def announce_new_sales(now: datetime | None = None) -> int:
    """Start (and enqueue) the announcement of every pack whose sale started within the last
    ``ANNOUNCE_WITHIN_HOURS`` hours, is on sale now (:meth:`Pack.is_on_sale`: in its window and
    encoded) and has no announcement yet; the worker's sweep calls this. Older packs (on sale
    before this ran, or ended) are left alone; ``0`` turns it off. Returns how many started.

    A pack still encoding when the window closes is not announced by itself: announce it by hand.
    """
    hours = int(current_app.config["ANNOUNCE_WITHIN_HOURS"])
    if hours <= 0:
        return 0
    now = now or utcnow()
    candidates = db.session.scalars(
        select(Pack).where(Pack.starts_at <= now, Pack.starts_at > now - timedelta(hours=hours), Pack.ends_at > now,
                           ~select(Announcement.id).where(Announcement.pack_id == Pack.id).exists())
        .order_by(Pack.starts_at, Pack.id)
    ).all()
    started = 0
    for pack in candidates:
        if not pack.is_on_sale(now):
            continue
        announcement, created = start(pack, automatic=True)
        if created:
            log.info("pack %s went on sale: announcing it to %s subscribers", pack.slug, announcement.total)
            started += 1
            try:
                enqueue_announcement(announcement)
            except QueueUnavailable:
                log.warning("announcement of %s recorded; the queue is down, a later sweep sends it", pack.slug)
    return started


def enqueue_announcement(announcement: Announcement) -> None:
    """:raises shop.queue.QueueUnavailable: when Redis cannot be reached (the sweep retries)."""
    if announcement.finished_at is None:
        enqueue(JOB, announcement.id, job_id=job_id(announcement.id), queue=MAIL_QUEUE)


def progress(announcement: Announcement) -> Progress:
    counts = dict(db.session.execute(
        select(AnnouncementSend.status, func.count(AnnouncementSend.id))
        .where(AnnouncementSend.announcement_id == announcement.id).group_by(AnnouncementSend.status)
    ).tuples().all())
    return Progress(announcement, int(counts.get(SendStatus.SENT.value, 0)),
                    int(counts.get(SendStatus.SKIPPED.value, 0)))


def _claim(announcement_id: int, worker: str) -> bool:
    """Take the announcement for this job, unless a live worker holds it."""
    now = utcnow()
    result = cast(CursorResult[Any], db.session.execute(
        update(Announcement)
        .where(Announcement.id == announcement_id, Announcement.finished_at.is_(None),
               or_(Announcement.worker.is_(None), Announcement.worker == worker,
                   Announcement.heartbeat_at < now - stale_after()))
        .values(worker=worker, heartbeat_at=now).execution_options(synchronize_session=False)))
    db.session.commit()
    return result.rowcount == 1


def run_announcement(announcement_id: int) -> str:
    """The RQ job: send what is left of the announcement. Safe to run twice (the claim lets one
    job work at a time; rows already ``sent`` are never sent again)."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if not _claim(announcement_id, worker):
        return "held by another worker, or finished"
    announcement = db.session.get(Announcement, announcement_id)
    assert announcement is not None
    pack = announcement.pack
    pack_url = absolute_url("store.pack", slug=pack.slug)
    interval = 1.0 / float(current_app.config["MAIL_RATE"])
    sent = 0
    while True:
        rows = db.session.execute(
            select(AnnouncementSend, Subscriber).join(Subscriber, Subscriber.id == AnnouncementSend.subscriber_id)
            .where(AnnouncementSend.announcement_id == announcement_id,
                   AnnouncementSend.status.in_([SendStatus.PENDING.value, SendStatus.SENDING.value]))
            .order_by(AnnouncementSend.subscriber_id).limit(BATCH)
        ).tuples().all()
        if not rows:
            break
        for send, subscriber in rows:
            started = time.monotonic()
            if subscriber.status != SubscriberStatus.CONFIRMED.value:
                send.status = SendStatus.SKIPPED.value
                db.session.commit()
                continue
            send.status = SendStatus.SENDING.value
            announcement.heartbeat_at = utcnow()
            db.session.commit()
            msg = list_message(subscriber, f"New pack: {pack.title}", "announce", pack=pack, pack_url=pack_url)
            msg.replace_header("Message-ID", f"<announcement-{announcement_id}-{subscriber.id}@shop.local>")
            mail.send(msg)  # a MailError fails the job; the sweep runs it again later
            send.status, send.sent_at = SendStatus.SENT.value, utcnow()
            db.session.commit()
            sent += 1
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    announcement.finished_at = utcnow()
    announcement.worker = None
    db.session.commit()
    log.info("announcement %s of %s finished: %s mails sent by this job", announcement_id, pack.slug, sent)
    return f"sent {sent}"


def requeue_stalled() -> int:
    """Put unfinished announcements whose worker went silent (or that never had one) back on
    the queue; the worker's sweep calls this. Returns how many."""
    cutoff = utcnow() - stale_after()
    stalled = db.session.scalars(
        select(Announcement).where(Announcement.finished_at.is_(None),
                                   or_(Announcement.heartbeat_at.is_(None), Announcement.heartbeat_at < cutoff))
    ).all()
    count = 0
    for announcement in stalled:
        if not job_is_waiting(job_id(announcement.id)):
            enqueue_announcement(announcement)
            count += 1
    return count
