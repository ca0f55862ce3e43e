"""``flask worker``: an RQ worker for Dropbox deliveries, inside the app context.

Besides running jobs, every worker sweeps the database every few seconds for
deliveries that wait for the queue (Redis was down when the buyer clicked) or whose
worker stopped sending heartbeats (killed), and enqueues them again. Claims in the
database make sure a delivery is worked on by one worker at a time.
"""

from __future__ import annotations

import logging
import threading

import click
import redis
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker

from shop.dropbox.deliveries import sweep
from shop.queue import get_queue, get_redis

log = logging.getLogger(__name__)
SWEEP_EVERY = 5.0


def _sweeper(app, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY):
        with app.app_context():
            try:
                count = sweep()
                if count:
                    log.info("re-enqueued %s waiting or stale deliveries", count)
            except redis.exceptions.RedisError:
                log.warning("sweep skipped: Redis unavailable")
            except Exception:
                log.exception("sweep failed")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs that are queued, then exit.")
@click.option("--name", help="Worker name (default: RQ's).")
@with_appcontext
def worker_command(burst: bool, name: str | None) -> None:
    """Run an RQ worker for the delivery queue (with the scheduler and the stale sweep)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Before taking jobs: whatever was left behind by a crash or a Redis outage.
    try:
        sweep()
    except redis.exceptions.RedisError:
        log.warning("Redis unavailable at start; the worker will keep trying")
    stop = threading.Event()
    if not burst:
        threading.Thread(target=_sweeper, args=(app, stop), name="delivery-sweeper", daemon=True).start()
    # SimpleWorker runs jobs in this process (no fork): the app context, the database
    # pool and the Dropbox session are reused, and a killed worker takes its job with it,
    # which the sweep then recovers.
    worker = SimpleWorker([get_queue(app)], connection=get_redis(app), name=name)
    try:
        worker.work(burst=burst, with_scheduler=not burst, logging_level="INFO")
    finally:
        stop.set()

