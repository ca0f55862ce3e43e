"""Deliveries as the database sees them: create, enqueue, retry, recover (what the order
page shows of one is :mod:`shop.dropbox.delivery_progress`).

Order of events: the Delivery row and one row per file are committed first, then the
id goes on the queue. If Redis is down the row waits (``enqueued_at`` is NULL) and
:func:`requeue_waiting` puts it on the queue once Redis answers again; the same sweep
re-enqueues deliveries whose worker stopped sending heartbeats (a killed worker).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, Result, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop.catalog.layout import track_entries
from shop.dropbox.models import (
    ACTIVE_STATUSES,
    PACK_TARGET,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    FileStatus,
    delivery_target,
)
from shop.dropbox.paths import buyer_folder
from shop.extensions import db
from shop.models import Album, Order, OrderStatus, utcnow
from shop.order_links import order_is_paid
from shop.queue import QueueUnavailable, enqueue, job_is_waiting

log = logging.getLogger(__name__)

JOB_FUNCTION = "shop.dropbox.jobs.run_delivery"
# Enqueued but never started for this long: the job was lost (Redis restarted empty).
LOST_AFTER = timedelta(minutes=2)
# A click this soon after the same delivery finished gets that delivery back, not a new one
# (a double click, a reload): the order page shows it with a "Send again" button, whose
# ``again=1`` delivers once more; after the window a click delivers again by itself.
REPEAT_WINDOW = timedelta(minutes=5)


# Why a delivery stopped when its order stopped being paid, as the buyer reads it.
STOP_REASONS = {
    OrderStatus.REFUNDED.value: "This order was refunded, so the delivery stopped.",
}
DEFAULT_STOP_REASON = "This order is no longer paid, so the delivery stopped."


class OrderNotPaid(Exception):
    """Deliveries are only for paid orders (a refunded or disputed one gets none)."""


def updated_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE changed (``Session.execute`` is typed as returning a plain Result)."""
    return cast(CursorResult[Any], result).rowcount


def stop_reason(status: str) -> str:
    return STOP_REASONS.get(status, DEFAULT_STOP_REASON)


def stale_after() -> timedelta:
    """No heartbeat for this long: the worker died. Re-enqueue (RQ's own sweep takes minutes)."""
    return timedelta(seconds=current_app.config["DELIVERY_STALE_SECONDS"])


def heartbeat_interval() -> timedelta:
    """A running delivery beats this often (every file, and while it waits out a 429)."""
    return stale_after() / 4


def target_albums(order: Order, target: str) -> list[Album]:
    """The albums a delivery to ``target`` copies: of the order's albums (the bonus album only
    for an order that unlocked it, see :meth:`Order.gets_album`)."""
    albums = sorted((a for a in order.pack.albums if order.gets_album(a)), key=lambda a: (a.position, a.id))
    if target == PACK_TARGET:
        return albums
    return [a for a in albums if delivery_target(a.id) == target]


def create_delivery(order: Order, target: str, fmt: str) -> tuple[Delivery, bool]:
    """The active delivery for (order, target, format), created if there is none.

    Returns ``(delivery, created)``. Two concurrent clicks race on the partial unique
    index; the loser gets the winner's row.

    :raises OrderNotPaid: when the order is not paid.
    """
    if not order_is_paid(order.id):
        raise OrderNotPaid(f"order {order.id} is not paid")
    existing = active_delivery(order.id, target, fmt)
    if existing is not None:
        return existing, False
    delivery = Delivery(order_id=order.id, target=target, format=fmt, status=DeliveryStatus.QUEUED.value)
    position = 0
    for album in target_albums(order, target):
        folder = buyer_folder(album, fmt)
        for entry in track_entries(album, fmt):
            position += 1
            delivery.files.append(DeliveryFile(
                track_file_id=entry.file.id, album_id=album.id, position=position,
                folder=folder, name=entry.name, status=FileStatus.PENDING.value,
            ))
    db.session.add(delivery)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = active_delivery(order.id, target, fmt)
        if existing is None:
            raise
        return existing, False
    return delivery, True


def active_delivery(order_id: int, target: str, fmt: str) -> Delivery | None:
    return db.session.scalar(select(Delivery).where(
        Delivery.order_id == order_id, Delivery.target == target, Delivery.format == fmt,
        Delivery.status.in_([s.value for s in ACTIVE_STATUSES]),
    ))


def recently_done(order_id: int, target: str, fmt: str, now: datetime | None = None) -> Delivery | None:
    """The same delivery, finished ``done`` within :data:`REPEAT_WINDOW` (what a repeated click gets)."""
    since = (now or utcnow()) - REPEAT_WINDOW
    return db.session.scalar(select(Delivery).where(
        Delivery.order_id == order_id, Delivery.target == target, Delivery.format == fmt,
        Delivery.status == DeliveryStatus.DONE.value, Delivery.finished_at >= since,
    ).order_by(Delivery.id.desc()).limit(1))


def enqueue_delivery(delivery: Delivery) -> bool:
    """Put the delivery on the queue; False (and the row keeps waiting) when Redis is down."""
    try:
        enqueue(JOB_FUNCTION, delivery.id, job_id=delivery.job_id)
    except QueueUnavailable as exc:
        # The error's class only: a connection error's text may name the Redis URL.
        log.warning("delivery %s waits in the database: queue unavailable (%s)", delivery.id,
                    type(exc.__cause__ or exc).__name__)
        return False
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id).values(enqueued_at=utcnow()))
    db.session.commit()
    return True


def requeue_waiting(now: datetime | None = None) -> int:
    """Enqueue deliveries that wait for the queue, lost their job, or lost their worker.

    Safe to run from several workers at once: a delivery is only ever worked on by the
    worker that claimed it (see :meth:`shop.dropbox.jobs.Deliverer.claim`).
    """
    now = now or utcnow()
    candidates = db.session.scalars(select(Delivery).join(Order).where(
        Order.status == OrderStatus.PAID.value,
        or_(
            (Delivery.status == DeliveryStatus.QUEUED.value)
            & (Delivery.enqueued_at.is_(None) | (Delivery.enqueued_at < now - LOST_AFTER)),
            (Delivery.status == DeliveryStatus.RUNNING.value) & (Delivery.heartbeat_at < now - stale_after()),
        ),
    )).all()
    count = 0
    for delivery in candidates:
        try:
            # A long queue is not a lost job: leave a delivery that is still waiting in line.
            if delivery.status == DeliveryStatus.QUEUED.value and delivery.enqueued_at is not None \
                    and job_is_waiting(delivery.job_id):
                continue
        except QueueUnavailable:
            break
        if not enqueue_delivery(delivery):
            break
        count += 1
    return count


def sweep() -> int:
    """Re-enqueue waiting and stale deliveries (every worker runs this every few seconds)."""
    try:
        return requeue_waiting()
    finally:
        db.session.remove()


RETRYABLE_STATUSES = (DeliveryStatus.FAILED.value, DeliveryStatus.NEEDS_SPACE.value)


def retry_delivery(delivery: Delivery) -> bool:
    """Put failed files back to pending and the delivery back on the queue (paid orders only).

    For a failed delivery, or one that waits for space (the caller checks the space first:
    :func:`shop.dropbox.space.check_space`). The retry is a new run: its duration and its
    end-of-delivery mail start afresh.
    """
    if delivery.status not in RETRYABLE_STATUSES or not order_is_paid(delivery.order_id):
        return False
    db.session.execute(update(DeliveryFile).where(
        DeliveryFile.delivery_id == delivery.id, DeliveryFile.status == FileStatus.FAILED.value,
    ).values(status=FileStatus.PENDING.value, error=None))
    delivery.status = DeliveryStatus.QUEUED.value
    delivery.error = None
    delivery.enqueued_at = None
    delivery.finished_at = None
    delivery.started_at = None
    delivery.notified_at = None
    delivery.attempts = 0
    try:
        db.session.commit()
    except IntegrityError:
        # Another delivery of the same album and format became active meanwhile.
        db.session.rollback()
        return False
    enqueue_delivery(delivery)
    return True


def resume_after_reconnect(order_id: int) -> int:
    """Deliveries that stopped for a revoked token go back on the queue (paid orders only)."""
    if not order_is_paid(order_id):
        return 0
    waiting = db.session.scalars(select(Delivery).where(
        Delivery.order_id == order_id, Delivery.status == DeliveryStatus.NEEDS_RECONNECT.value,
    )).all()
    for delivery in waiting:
        delivery.status = DeliveryStatus.QUEUED.value
        delivery.error = None
        delivery.enqueued_at = None
        delivery.started_at = None
        delivery.notified_at = None
    db.session.commit()
    for delivery in waiting:
        enqueue_delivery(delivery)
    return len(waiting)


def cancel_deliveries(order_id: int, reason: str) -> int:
    """Stop the order's active deliveries for good (not committed); returns how many.

    Files already in the buyer's Dropbox stay ``done``; a worker in the middle of one
    notices at its next step and stops (it no longer holds the claim). The delivery rows
    are locked first, in the same order a worker takes its locks (delivery, then files).
    """
    ids = db.session.scalars(
        select(Delivery.id)
        .where(Delivery.order_id == order_id, Delivery.status.in_([s.value for s in ACTIVE_STATUSES]))
        .order_by(Delivery.id)
        .with_for_update()
    ).all()
    if not ids:
        return 0
    db.session.execute(
        update(Delivery).where(Delivery.id.in_(ids))
        .values(status=DeliveryStatus.CANCELLED.value, error=reason, worker=None, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(DeliveryFile)
        .where(DeliveryFile.delivery_id.in_(ids), DeliveryFile.status == FileStatus.COPYING.value)
        .values(status=FileStatus.PENDING.value)
        .execution_options(synchronize_session=False)
    )
    return len(ids)
