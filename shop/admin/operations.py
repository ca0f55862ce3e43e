"""What runs behind the store, for an operator: deliveries by state, the RQ queues and workers,
failed jobs, the store's Dropbox link. No request objects here.

Redis may be down: :func:`queue_overview` then says so (``unavailable``) instead of raising,
so the pages still render what the database knows. Tracebacks of failed jobs may hold
secrets (order tokens in URLs, OAuth codes): they pass through :func:`shop.logs.redact`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shop.admin import audit
from shop.admin.models import Operator
from shop.columns import as_utc
from shop.dropbox.deliveries import RETRYABLE_STATUSES, retry_delivery
from shop.dropbox.models import Delivery, DeliveryStatus, StoreDropboxAccount
from shop.extensions import db
from shop.logs import redact
from shop.models import utcnow
from shop.queue import DELIVERY_QUEUE, ENCODING_QUEUE, QueueUnavailable, get_redis

log = logging.getLogger(__name__)

QUEUES = (DELIVERY_QUEUE, ENCODING_QUEUE)
#: Deliveries listed per state (the newest first).
PER_STATE = 50
FAILED_JOBS_SHOWN = 50
TRACEBACK_MAX = 8000
#: The Dropbox call on the workers page: short, so a slow Dropbox does not hold the page.
DROPBOX_CHECK_TIMEOUT = 3.0
REDIS_ERRORS = (redis.exceptions.RedisError, QueueUnavailable, OSError)

#: The states the deliveries page lists, in order, each with its heading.
DELIVERY_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Running", (DeliveryStatus.RUNNING.value,)),
    ("Queued or waiting", (DeliveryStatus.QUEUED.value,)),
    ("Needs reconnect", (DeliveryStatus.NEEDS_RECONNECT.value,)),
    ("Needs space", (DeliveryStatus.NEEDS_SPACE.value,)),
    ("Failed", (DeliveryStatus.FAILED.value,)),
    ("Cancelled", (DeliveryStatus.CANCELLED.value,)),
)


@dataclass
class DeliveryGroup:
    title: str
    statuses: tuple[str, ...]
    total: int
    deliveries: list[Delivery]


def delivery_groups(per_state: int = PER_STATE) -> list[DeliveryGroup]:
    counts = dict(db.session.execute(select(Delivery.status, func.count(Delivery.id)).group_by(Delivery.status))
                  .tuples().all())
    groups = []
    for title, statuses in DELIVERY_GROUPS:
        rows = db.session.scalars(
            select(Delivery).options(selectinload(Delivery.order), selectinload(Delivery.files))
            .where(Delivery.status.in_(statuses)).order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(per_state)
        ).all()
        groups.append(DeliveryGroup(title, statuses, sum(int(counts.get(s, 0)) for s in statuses), list(rows)))
    return groups


def retry(delivery: Delivery, operator: Operator, ip: str | None) -> bool:
    """Retry one failed (or out-of-space) delivery; audited either way."""
    delivery_id, status, order_id = delivery.id, delivery.status, delivery.order_id
    retried = retry_delivery(delivery)
    audit.record(operator, "delivery.retry", f"delivery:{delivery_id}",
                 {"order": order_id, "status": status, "retried": retried}, ip)
    db.session.commit()
    return retried


def retry_all_failed(operator: Operator, ip: str | None) -> tuple[int, int]:
    """Retry every failed delivery; ``(retried, skipped)`` (skipped: order no longer paid, or
    another delivery of the same album and format is active)."""
    failed = db.session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED.value)
                                .order_by(Delivery.id)).all()
    retried = sum(1 for delivery in failed if retry_delivery(delivery))
    audit.record(operator, "delivery.retry_all_failed", "deliveries",
                 {"failed": len(failed), "retried": retried}, ip)
    db.session.commit()
    return retried, len(failed) - retried


# ---------------------------------------------------------------------------- queues and workers


def _aware(value: datetime | None) -> datetime | None:
    """RQ keeps its timestamps as naive UTC."""
    return None if value is None else as_utc(value)


@dataclass
class QueueInfo:
    name: str
    length: int
    oldest_enqueued_at: datetime | None
    failed: int


@dataclass
class WorkerInfo:
    name: str
    state: str
    queues: list[str]
    last_heartbeat: datetime | None
    current_job: str | None
    hostname: str | None
    pid: int | None


@dataclass
class FailedJob:
    id: str
    queue: str
    function: str
    args: str
    ended_at: datetime | None
    traceback: str


@dataclass
class QueueOverview:
    unavailable: str | None = None
    queues: list[QueueInfo] = field(default_factory=list)
    workers: list[WorkerInfo] = field(default_factory=list)
    failed_jobs: list[FailedJob] = field(default_factory=list)


def queue_overview() -> QueueOverview:
    """Queues (length, oldest job), live workers with their heartbeat, failed jobs with tracebacks."""
    try:
        connection = get_redis()
        overview = QueueOverview()
        for name in QUEUES:
            queue = Queue(name, connection=connection)
            oldest_ids = queue.get_job_ids(0, 1)
            oldest = Job.fetch(oldest_ids[0], connection=connection) if oldest_ids else None
            registry = FailedJobRegistry(queue=queue)
            overview.queues.append(QueueInfo(name, queue.count, _aware(oldest.enqueued_at) if oldest else None,
                                             registry.count))
            for job_id in registry.get_job_ids(0, FAILED_JOBS_SHOWN - 1):
                job = Job.fetch(job_id, connection=connection) if connection.exists(Job.key_for(job_id)) else None
                if job is None:
                    continue
                overview.failed_jobs.append(FailedJob(
                    id=job.id, queue=name, function=job.func_name or "?",
                    args=redact(", ".join(repr(a) for a in job.args))[:200],
                    ended_at=_aware(job.ended_at),
                    traceback=redact(_traceback(job))[-TRACEBACK_MAX:],
                ))
        for worker in Worker.all(connection=connection):
            overview.workers.append(WorkerInfo(
                name=worker.name, state=str(worker.get_state()), queues=worker.queue_names(),
                last_heartbeat=_aware(worker.last_heartbeat), current_job=worker.get_current_job_id(),
                hostname=worker.hostname, pid=worker.pid,
            ))
        overview.workers.sort(key=lambda w: w.name)
        return overview
    except REDIS_ERRORS as exc:
        # The class only: a connection error's text may name the Redis URL and its password.
        log.warning("queue overview: Redis unavailable (%s)", type(exc).__name__)
        return QueueOverview(unavailable=type(exc).__name__)


def _traceback(job: Job) -> str:
    """The job's last failure as RQ recorded it: its latest result, else the text the failed
    registry keeps on the job (``Job.exc_info`` is deprecated, and warns)."""
    result = job.latest_result()
    if result is not None and result.exc_string:
        return str(result.exc_string)
    return str(getattr(job, "_exc_info", None) or "")


class JobError(ValueError):
    """A failed job that cannot be requeued; ``str(exc)`` says why."""


def requeue_failed(job_id: str | None, operator: Operator, ip: str | None) -> int:
    """Requeue one failed job (``job_id``) or every one (None); audited. Returns how many.

    :raises JobError: for a job that is not in a failed registry.
    :raises QueueUnavailable: when Redis does not answer.
    """
    try:
        connection = get_redis()
        count = 0
        for name in QUEUES:
            registry = FailedJobRegistry(queue=Queue(name, connection=connection))
            ids = registry.get_job_ids() if job_id is None else [j for j in registry.get_job_ids() if j == job_id]
            for each in ids:
                registry.requeue(each)
                count += 1
    except REDIS_ERRORS as exc:
        raise QueueUnavailable(type(exc).__name__) from exc
    if job_id is not None and count == 0:
        raise JobError(f"no failed job {job_id!r}")
    audit.record(operator, "job.requeue" if job_id else "job.requeue_all_failed", job_id or "failed jobs",
                 {"requeued": count}, ip)
    db.session.commit()
    return count


# ---------------------------------------------------------------------------- the store's Dropbox


@dataclass(frozen=True)
class DropboxLink:
    linked: bool
    how: str  # "setting", "linked account" or ""
    account_id: str | None = None
    email: str | None = None
    linked_at: datetime | None = None
    problem: str | None = None


def dropbox_link(check: bool = True) -> DropboxLink:
    """The store account's link, from the stored account; with ``check``, its e-mail asked of
    Dropbox in one call with a short timeout (a slow or failing Dropbox is reported, not waited on)."""
    from flask import current_app

    from shop.dropbox.client import DropboxNotConfigured, make_client, store_refresh_token
    from shop.dropbox.references import describe_error

    account = db.session.get(StoreDropboxAccount, 1)
    from_setting = bool(current_app.config.get("DROPBOX_STORE_REFRESH_TOKEN"))
    if account is None and not from_setting:
        return DropboxLink(False, "")
    how = "setting" if from_setting else "linked account"
    link = DropboxLink(True, how, account.account_id if account else None, None,
                       account.linked_at if account else None)
    if not check:
        return link
    try:
        client = make_client(store_refresh_token(), timeout=DROPBOX_CHECK_TIMEOUT)
        me = client.users_get_current_account()
        return DropboxLink(True, how, me.account_id, me.email, link.linked_at)
    except DropboxNotConfigured as exc:
        return DropboxLink(True, how, link.account_id, None, link.linked_at, str(exc))
    except Exception as exc:  # network, auth, a slow Dropbox: what the page needs is the word
        return DropboxLink(True, how, link.account_id, None, link.linked_at,
                           f"Dropbox did not answer: {describe_error(exc)}")


def age(value: datetime | None, now: datetime | None = None) -> str:
    """``45 s``, ``12 min``, ``3 h``, ``2 d``: how long ago."""
    if value is None:
        return "\u2014"
    seconds = max(0, int(((now or utcnow()) - value).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def is_retryable(delivery: Delivery) -> bool:
    return delivery.status in RETRYABLE_STATUSES


def as_json(overview: QueueOverview) -> dict[str, Any]:
    return {"unavailable": overview.unavailable,
            "queues": [{"name": q.name, "length": q.length, "failed": q.failed} for q in overview.queues],
            "workers": len(overview.workers)}

