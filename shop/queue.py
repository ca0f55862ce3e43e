"""The RQ queue and its Redis connection. The queue carries ids only."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

DELIVERY_QUEUE = "deliveries"
# Encoding a track's formats from its master: CPU-bound, on its own queue so a big import
# never delays a buyer's Dropbox delivery (workers listen to deliveries first).
ENCODING_QUEUE = "encoding"
# A pack delivery through a 429 storm can take a while; the database tracks progress.
JOB_TIMEOUT = 60 * 60


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached (or is not configured)."""


def get_redis(app: Flask | None = None) -> redis.Redis:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    connection = app.extensions.get("shop.redis")
    if connection is None:
        url = app.config.get("REDIS_URL")
        if not url:
            raise QueueUnavailable("SHOP_REDIS_URL is not set")
        connection = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10,
                                          health_check_interval=30)
        app.extensions["shop.redis"] = connection
    return connection


def get_queue(app: Flask | None = None, name: str = DELIVERY_QUEUE) -> Queue:
    return Queue(name, connection=get_redis(app), default_timeout=JOB_TIMEOUT)


def enqueue(function: str, *args: object, job_id: str, queue: str = DELIVERY_QUEUE) -> None:
    """Put a job on a queue (the delivery queue unless told otherwise).

    :raises QueueUnavailable: when Redis cannot be reached.
    """
    try:
        get_queue(name=queue).enqueue(function, *args, job_id=job_id, job_timeout=JOB_TIMEOUT,
                                      result_ttl=3600, failure_ttl=7 * 86400)
    except redis.exceptions.RedisError as exc:
        raise QueueUnavailable(str(exc)) from exc


def job_is_waiting(job_id: str) -> bool:
    """Whether the job sits in the queue, waiting for a worker (so enqueueing again is useless).

    :raises QueueUnavailable: when Redis cannot be reached.
    """
    try:
        job = Job.fetch(job_id, connection=get_redis())
        return job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
    except NoSuchJobError:
        return False
    except redis.exceptions.RedisError as exc:
        raise QueueUnavailable(str(exc)) from exc
