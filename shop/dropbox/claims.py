"""A delivery's claim: which worker runs it, kept alive by heartbeats.

A worker takes a delivery with one atomic UPDATE (queued, or running with a stale
heartbeat), then proves it still holds it before every write that a takeover could
contradict. A thread of its own beats while the job waits on Dropbox.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from flask import Flask
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from shop.dropbox.deliveries import heartbeat_interval, stale_after, updated_rows
from shop.dropbox.models import Delivery, DeliveryStatus
from shop.extensions import db
from shop.models import utcnow

log = logging.getLogger(__name__)


class LostClaim(Exception):
    """Another worker took the delivery over (this one was presumed dead)."""


class Heartbeat:
    """Beats for a claimed delivery from a thread of its own while the job runs.

    One Dropbox call can take longer than the stale limit (a slow answer trickles in under
    the SDK's per-read timeout): beating only between calls would make a live delivery look
    dead, and a second worker would take it over. The thread writes on its own database
    connection, only while this worker holds the claim; when the claim is gone it sets
    :attr:`lost` and stops, and the job stops at its next step (:meth:`Claim.beat`).
    """

    def __init__(self, app: Flask, delivery_id: int, worker: str, interval: float) -> None:
        self.app = app
        self.delivery_id = delivery_id
        self.worker = worker
        self.interval = interval
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{delivery_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with self.app.app_context():
            while not self._stop.wait(self.interval):
                try:
                    with db.engine.begin() as connection:
                        result = connection.execute(
                            update(Delivery)
                            .where(Delivery.id == self.delivery_id, Delivery.worker == self.worker,
                                   Delivery.status == DeliveryStatus.RUNNING.value)
                            .values(heartbeat_at=utcnow())
                        )
                except SQLAlchemyError as exc:
                    log.warning("delivery %s: heartbeat failed (%s); trying again", self.delivery_id,
                                type(exc).__name__)
                    continue
                if result.rowcount != 1:
                    self.lost.set()
                    return


class Claim:
    """One worker's claim on one delivery."""

    def __init__(self, delivery_id: int, sleep: Callable[[float], None] = time.sleep) -> None:
        self.delivery_id = delivery_id
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._sleep = sleep
        self._last_beat = 0.0
        self._heartbeat: Heartbeat | None = None

    def take(self) -> bool:
        """Atomically take the delivery: queued, or running with a stale heartbeat."""
        now = utcnow()
        result = db.session.execute(
            update(Delivery)
            .where(
                Delivery.id == self.delivery_id,
                (Delivery.status == DeliveryStatus.QUEUED.value)
                | ((Delivery.status == DeliveryStatus.RUNNING.value) & (Delivery.heartbeat_at < now - stale_after())),
            )
            .values(status=DeliveryStatus.RUNNING.value, worker=self.worker, heartbeat_at=now,
                    attempts=Delivery.attempts + 1, error=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return updated_rows(result) == 1

    def start_heartbeat(self, app: Flask) -> None:
        self._heartbeat = Heartbeat(app, self.delivery_id, self.worker,
                                    heartbeat_interval().total_seconds() / 2).start()

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def hold(self) -> None:
        """In the current transaction: check this worker still holds the claim, and beat.

        The UPDATE locks the delivery's row (PostgreSQL) or the database (SQLite) until the
        caller commits, so whatever the caller writes next in the same transaction cannot
        interleave with a takeover.

        :raises LostClaim: (after a rollback) when another worker took the delivery over.
        """
        result = db.session.execute(
            update(Delivery)
            .where(Delivery.id == self.delivery_id, Delivery.worker == self.worker,
                   Delivery.status == DeliveryStatus.RUNNING.value)
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if updated_rows(result) != 1:
            db.session.rollback()
            raise LostClaim()

    def beat(self, force: bool = False) -> None:
        if self._heartbeat is not None and self._heartbeat.lost.is_set():
            raise LostClaim()
        if not force and time.monotonic() - self._last_beat < heartbeat_interval().total_seconds() / 2:
            return
        self.hold()
        db.session.commit()
        self._last_beat = time.monotonic()

    def sleep(self, seconds: float) -> None:
        """A short pause that writes no beat (the heartbeat thread keeps the claim alive)."""
        self._sleep(seconds)

    def wait(self, seconds: float) -> None:
        """Sleep while keeping the heartbeat alive."""
        remaining = seconds
        while remaining > 0:
            step = min(remaining, heartbeat_interval().total_seconds() / 2)
            self._sleep(step)
            remaining -= step
            self.beat(force=True)
