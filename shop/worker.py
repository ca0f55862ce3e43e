"""``flask worker``: an RQ worker for deliveries, the ``mail`` and the ``encoding`` queues, in the app context.

Besides running jobs, every worker sweeps the database every few seconds for
deliveries that wait for the queue (Redis was down when the buyer clicked) or whose
worker stopped sending heartbeats (killed), and enqueues them again; likewise encodes,
scheduled gifts and announcements, and it starts the announcement of a pack that has just
gone on sale (:func:`shop.mailing.announcements.announce_new_sales`). Claims in the
database make sure a delivery is worked on by one worker at a time.

A Redis outage does not end the process: RQ's own bookkeeping (when a job ends, or its
heartbeat) raises on a lost connection, which would stop ``work()`` for good. The command
then waits, with a capped exponential back-off, until Redis answers again, and starts a
fresh worker. A job's own database writes are committed before RQ's bookkeeping, so the
delivery's state stays true; at worst RQ files the job as failed in its own registry.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable
from types import FrameType

import click
import redis
import sqlalchemy.exc
from flask import Flask, current_app
from flask.cli import with_appcontext
from rq import SimpleWorker
from rq.exceptions import StopRequested

from shop.catalog.jobs import requeue_waiting as requeue_encodes
from shop.dropbox.deliveries import sweep
from shop.gifts.service import send_due as send_due_gifts
from shop.mailing.announcements import MAIL_QUEUE, announce_new_sales
from shop.mailing.announcements import requeue_stalled as requeue_announcements
from shop.queue import ENCODING_QUEUE, get_queue, get_redis

log = logging.getLogger(__name__)
SWEEP_EVERY = 5.0
# Waiting for Redis to come back: 1 s, 2 s, 4 s, ... at most 30 s, each with jitter.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class StoreWorker(SimpleWorker):
    """A SimpleWorker that stops its loop, instead of quitting with a logged traceback, when
    Redis goes away; :func:`run_worker` then starts a fresh one once Redis is back.

    SimpleWorker runs jobs in this process (no fork): the app context, the database pool
    and the Dropbox session are reused, and a killed worker takes its job with it, which
    the sweep then recovers.
    """

    redis_lost: type[Exception] | None = None

    def _guard(self, method_name: str, *args: object, **kwargs: object) -> object:
        try:
            return getattr(super(), method_name)(*args, **kwargs)
        except REDIS_DOWN as exc:
            self.redis_lost = type(exc)
            raise StopRequested() from exc

    def execute_job(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._guard("execute_job", *args, **kwargs)

    def dequeue_job_and_maintain_ttl(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._guard("dequeue_job_and_maintain_ttl", *args, **kwargs)

    def heartbeat(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._guard("heartbeat", *args, **kwargs)

    def run_maintenance_tasks(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._guard("run_maintenance_tasks", *args, **kwargs)

    def check_for_suspension(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._guard("check_for_suspension", *args, **kwargs)


#: What every sweep does, in order, with the line logged when a step counts anything.
SWEEP_STEPS: tuple[tuple[Callable[[], int], str], ...] = (
    (sweep, "re-enqueued %s waiting or stale deliveries"),
    (requeue_encodes, "re-enqueued %s tracks with waiting or stale encodes"),
    (send_due_gifts, "delivered %s scheduled gifts"),
    (announce_new_sales, "started %s announcements of packs that went on sale"),
    (requeue_announcements, "re-enqueued %s unfinished pack announcements"),
)


def _sweeper(app: Flask, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY):
        with app.app_context():
            try:
                for step, message in SWEEP_STEPS:
                    count = step()
                    if count:
                        log.info(message, count)
            except redis.exceptions.RedisError:
                log.warning("sweep skipped: Redis unavailable")
            except sqlalchemy.exc.OperationalError as exc:
                # The database is down or unreachable: one line per sweep, not a traceback.
                log.warning("sweep skipped: database unavailable (%s)", type(exc.orig).__name__)
            except Exception:
                log.exception("sweep failed")


def backoff_delays(first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX):  # type: ignore[no-untyped-def]
    """Exponential delays with jitter (each between half and all of the step), capped."""
    step = first
    while True:
        yield step * (0.5 + random.random() / 2)
        step = min(step * 2, cap)


def wait_for_redis(app: Flask, stopping: threading.Event) -> bool:
    """Back off until Redis answers a PING; False when asked to stop meanwhile."""
    for delay in backoff_delays():
        if stopping.wait(delay):
            return False
        try:
            get_redis(app).ping()
            return True
        except redis.exceptions.RedisError as exc:
            log.warning("Redis still unavailable (%s); next try in up to %.0f s", type(exc).__name__,
                        min(delay * 4, BACKOFF_MAX))
    return False  # pragma: no cover (the generator never ends)


def run_worker(app: Flask, burst: bool, name: str | None) -> None:
    """Run RQ workers one after the other until asked to stop (or, with ``burst``, until the
    queue is empty), starting a fresh one whenever Redis went away under the last one."""
    generation = 0
    while True:
        generation += 1
        worker_name = name if name is None or generation == 1 else f"{name}.{generation}"
        # Deliveries first (a buyer waits), then encoding.
        queues = [get_queue(app), get_queue(app, MAIL_QUEUE), get_queue(app, ENCODING_QUEUE)]
        worker = StoreWorker(queues, connection=get_redis(app), name=worker_name)
        lost: type[Exception] | None = None
        try:
            worker.work(burst=burst, with_scheduler=not burst, logging_level="INFO")
            lost = worker.redis_lost
        except REDIS_DOWN as exc:  # from RQ's start-up or teardown (registering the worker's death)
            lost = type(exc)
        if lost is None or worker._stop_requested:
            return
        log.warning("Redis connection lost (%s): waiting for Redis, then starting a fresh worker", lost.__name__)
        if not _wait_for_redis_or_a_signal(app):
            log.info("stopping while Redis is unavailable")
            return
        log.info("Redis answers again: starting a fresh worker")


def _wait_for_redis_or_a_signal(app: Flask) -> bool:
    """Between two RQ workers nobody handles SIGTERM/SIGINT: a signal ends the wait (False)."""
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return wait_for_redis(app, stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs that are queued, then exit.")
@click.option("--name", help="Worker name (default: RQ's).")
@with_appcontext
def worker_command(burst: bool, name: str | None) -> None:
    """Run an RQ worker for deliveries, mail and encoding (with the scheduler and the stale sweep)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Before taking jobs: whatever was left behind by a crash or a Redis outage.
    try:
        sweep()
        requeue_encodes()
    except redis.exceptions.RedisError:
        log.warning("Redis unavailable at start; the worker will keep trying")
    stop = threading.Event()
    if not burst:
        threading.Thread(target=_sweeper, args=(app, stop), name="delivery-sweeper", daemon=True).start()
    try:
        run_worker(app, burst, name)
    finally:
        stop.set()
