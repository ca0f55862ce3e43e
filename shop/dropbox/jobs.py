"""The delivery job: copy an album (or a pack) into the buyer's Dropbox.

It runs in an RQ worker with an app context, takes only a delivery id, and can be run
any number of times: whatever is already in the buyer's Dropbox with the right content
hash counts as delivered, so a resumed or repeated run never makes a second copy.

Per album it lists the buyer's album folder once. No folder: the fast path, one
``copy_reference/save`` of the store's album-and-format folder. A folder that lacks some
files (a half-delivered album): the batch path, which saves the store's folder to a
temporary folder in the app folder, moves the missing files into place with one
``move_batch_v2`` and deletes the temporary folder, a handful of calls whatever the track
count. File by file only when neither applies or the batch fails. A full Dropbox parks the
delivery as "needs space" (what arrived stays). Rate limits are waited out as Dropbox
asks, 5xx and network errors get bounded retries, dead copy references are minted again
from the store's account, files without one are fetched by Dropbox from a short-lived
signed URL of ours (``save_url``), and a revoked buyer token parks the delivery as "needs
reconnect". An order that stops being paid (refunded, disputed) stops its delivery before
the next album or file.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import dropbox
import requests
from dropbox import files as dbx_files
from dropbox.exceptions import ApiError, AuthError, BadInputError, HttpError, InternalServerError, RateLimitError
from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from shop.dropbox import notify
from shop.dropbox.client import buyer_client, store_client
from shop.dropbox.connections import connection_for, remember_refreshed_token
from shop.dropbox.deliveries import OrderNotPaid, heartbeat_interval, stale_after, stop_reason, updated_rows
from shop.dropbox.fetch_urls import signed_file_url
from shop.dropbox.models import (
    AlbumFolderRef,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    FileStatus,
)
from shop.dropbox.paths import store_folder
from shop.dropbox.references import describe_error, record_reference
from shop.dropbox.space import space_usage
from shop.extensions import db
from shop.formatting import filesize
from shop.models import Order, OrderStatus, TrackFile, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_SERVER_ERROR_RETRIES = 4
MAX_RATE_LIMIT_WAIT = 15 * 60  # seconds of waiting on 429s for one call before giving up on it
MAX_FREE_NAME_TRIES = 20
SAVE_URL_TIMEOUT = 15 * 60  # Dropbox's own limit for a save_url transfer
# Runs of one delivery (each crash or stale takeover is one more) before it is given up.
MAX_ATTEMPTS = 10
# The batch path's temporary folders, at the top of the buyer's app folder (no parent folder to
# leave behind): one per delivery and album.
TEMP_PREFIX = "/.indie-packs-tmp-"
# How long a move batch may stay ``in_progress`` before the files go one by one instead.
MOVE_BATCH_TIMEOUT = 10 * 60
# Seconds before the first check, doubled after every in_progress answer, up to MAX_BATCH_CHECK.
# The launch itself took a round trip, so a small batch is usually done by the first check.
FIRST_BATCH_CHECK = 0.05
MAX_BATCH_CHECK = 5.0


def temp_folder(delivery_id: int, album_id: int) -> str:
    """Where the batch path saves the store's album folder before moving files out of it."""
    return f"{TEMP_PREFIX}{delivery_id}-{album_id}"


class NeedsReconnect(Exception):
    """The buyer's token no longer works: only the buyer can fix it."""


class LostClaim(Exception):
    """Another worker took the delivery over (this one was presumed dead)."""


class FileFailed(Exception):
    """This file cannot be delivered now; the others go on."""


class NeedsSpace(Exception):
    """The buyer's Dropbox is full: only the buyer can make room."""


class Heartbeat:
    """Beats for a claimed delivery from a thread of its own while the job runs.

    One Dropbox call can take longer than the stale limit (a slow answer trickles in under
    the SDK's per-read timeout): beating only between calls would make a live delivery look
    dead, and a second worker would take it over. The thread writes on its own database
    connection, only while this worker holds the claim; when the claim is gone it sets
    :attr:`lost` and stops, and the job stops at its next step (:meth:`Deliverer.beat`).
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


def run_delivery(delivery_id: int) -> str:
    """RQ entry point. Returns a short outcome for RQ's job result."""
    return Deliverer(delivery_id).run()


class Deliverer:
    def __init__(self, delivery_id: int, sleep: Callable[[float], None] = time.sleep,
                 batch_moves: bool = True) -> None:
        """:param batch_moves: False turns the batch path off (file by file, as before; benchmarks)."""
        self.delivery_id = delivery_id
        self.batch_moves = batch_moves
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._sleep = sleep
        self._last_beat = 0.0
        self._dbx: dropbox.Dropbox | None = None
        self._connection_id: int | None = None
        self._token_at_start: str | None = None
        self._store: dropbox.Dropbox | None = None
        self._heartbeat: Heartbeat | None = None

    @property
    def dbx(self) -> dropbox.Dropbox:
        """The buyer's client, made when the run starts."""
        if self._dbx is None:
            raise RuntimeError("the buyer's Dropbox client is made by run_claimed()")
        return self._dbx

    # -- claim and heartbeat ---------------------------------------------------------------

    def claim(self) -> bool:
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

    def hold_claim(self) -> None:
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
        self.hold_claim()
        db.session.commit()
        self._last_beat = time.monotonic()

    def wait(self, seconds: float) -> None:
        """Sleep while keeping the heartbeat alive."""
        remaining = seconds
        while remaining > 0:
            step = min(remaining, heartbeat_interval().total_seconds() / 2)
            self._sleep(step)
            remaining -= step
            self.beat(force=True)

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> str:
        if not self.claim():
            return "not claimed (running elsewhere or finished)"
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        self._heartbeat = Heartbeat(app, self.delivery_id, self.worker,
                                    heartbeat_interval().total_seconds() / 2).start()
        try:
            return self.run_claimed()
        except LostClaim:
            db.session.rollback()
            return "lost claim"
        finally:
            self._heartbeat.stop()
            self.remember_token()

    def remember_token(self) -> None:
        """Store an access token the SDK refreshed during the job, so the next job need not."""
        if self._dbx is None or self._connection_id is None:
            return
        try:
            db.session.rollback()
            remember_refreshed_token(self._connection_id, self.dbx, self._token_at_start)
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.warning("delivery %s: could not store the refreshed token (%s)", self.delivery_id,
                        type(exc).__name__)

    def run_claimed(self) -> str:
        self.beat(force=True)
        delivery = db.session.get(Delivery, self.delivery_id)
        if delivery is None:
            return "gone"  # deleted with its order
        try:
            self.check_paid(delivery)
        except OrderNotPaid as exc:
            return self.cancel(str(exc))
        if delivery.attempts > MAX_ATTEMPTS:
            # Something keeps killing this delivery mid-way: stop, and let the buyer retry.
            self.end(DeliveryStatus.FAILED, "This delivery kept being interrupted. Press retry to try again.")
            return "gave up"
        if delivery.started_at is None:
            delivery.started_at = utcnow()
            db.session.commit()
        connection = connection_for(delivery.order)
        if connection is None:
            return self.park("Connect your Dropbox to continue this delivery.")
        self._dbx = buyer_client(connection)
        self._connection_id = connection.id
        self._token_at_start = self.dbx._oauth2_access_token
        try:
            for album_id in dict.fromkeys(f.album_id for f in delivery.files):
                self.deliver_album(delivery, [f for f in delivery.files if f.album_id == album_id])
            self.check_paid(delivery)
        except NeedsReconnect:
            return self.park("Dropbox no longer accepts this store's access. Reconnect to finish.")
        except NeedsSpace:
            return self.park(self.no_space_message(delivery), DeliveryStatus.NEEDS_SPACE)
        except LostClaim:
            db.session.rollback()
            return "lost claim"
        except OrderNotPaid as exc:
            return self.cancel(str(exc))
        return self.finish(delivery)

    def check_paid(self, delivery: Delivery) -> None:
        """Stop unless the order is still paid (asked of the database: a refund commits elsewhere).

        :raises OrderNotPaid: with the reason the buyer reads.
        """
        status = db.session.scalar(select(Order.status).where(Order.id == delivery.order_id))
        if status != OrderStatus.PAID.value:
            raise OrderNotPaid(stop_reason(status or ""))

    def cancel(self, reason: str) -> str:
        """The order is no longer paid: stop for good. Files already delivered stay done."""
        db.session.rollback()
        result = db.session.execute(
            update(Delivery).where(Delivery.id == self.delivery_id, Delivery.worker == self.worker)
            .values(status=DeliveryStatus.CANCELLED.value, error=reason, worker=None, finished_at=utcnow())
        )
        if updated_rows(result) == 1:
            db.session.execute(
                update(DeliveryFile)
                .where(DeliveryFile.delivery_id == self.delivery_id, DeliveryFile.status == FileStatus.COPYING.value)
                .values(status=FileStatus.PENDING.value)
            )
        db.session.commit()
        return "cancelled"

    def park(self, message: str, status: DeliveryStatus = DeliveryStatus.NEEDS_RECONNECT) -> str:
        """Stop until the buyer acts (reconnects, makes room); files already copied stay done."""
        db.session.rollback()
        result = db.session.execute(
            update(Delivery).where(Delivery.id == self.delivery_id, Delivery.worker == self.worker)
            .values(status=status.value, error=message, worker=None)
        )
        if updated_rows(result) == 1:
            db.session.execute(
                update(DeliveryFile)
                .where(DeliveryFile.delivery_id == self.delivery_id, DeliveryFile.status == FileStatus.COPYING.value)
                .values(status=FileStatus.PENDING.value)
            )
        db.session.commit()
        if updated_rows(result) != 1:
            return "lost claim"
        notify.notify_if_long(self.delivery_id)
        return status.value.replace("_", " ")

    def no_space_message(self, delivery: Delivery) -> str:
        """What the buyer reads when their Dropbox filled up: what arrived, what is needed, what is free."""
        db.session.rollback()
        db.session.refresh(delivery)
        left = [f for f in delivery.files if f.status != FileStatus.DONE.value]
        needed = sum(f.track_file.size for f in left)
        arrived = len(delivery.files) - len(left)
        free = ""
        try:
            if self._dbx is not None:
                free = f", you have {filesize(space_usage(self.dbx).free)} free"
        except (dropbox.exceptions.DropboxException, requests.RequestException):
            pass  # the numbers we have are enough to act on
        return (f"Your Dropbox is full: {arrived} of {len(delivery.files)} files arrived. The other {len(left)} "
                f"need {filesize(needed)}{free}. Make room in your Dropbox, then press Retry.")

    def finish(self, delivery: Delivery) -> str:
        db.session.refresh(delivery)
        failed = [f for f in delivery.files if f.status == FileStatus.FAILED.value]
        if failed:
            return self.end(DeliveryStatus.FAILED, f"{len(failed)} of {len(delivery.files)} files could not be "
                            f"copied ({failed[0].error}). Press retry to try them again.")
        return self.end(DeliveryStatus.DONE, None)

    def end(self, status: DeliveryStatus, error: str | None) -> str:
        """Finish the delivery, only if this worker still holds it; returns the outcome."""
        result = db.session.execute(
            update(Delivery).where(Delivery.id == self.delivery_id, Delivery.worker == self.worker)
            .values(status=status.value, error=error, finished_at=utcnow(), worker=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        if updated_rows(result) != 1:
            return "lost claim"
        notify.notify_if_long(self.delivery_id)
        return status.value

    # -- one album -------------------------------------------------------------------------

    def deliver_album(self, delivery: Delivery, files: list[DeliveryFile]) -> None:
        todo = [f for f in files if f.status in (FileStatus.PENDING.value, FileStatus.COPYING.value)]
        if not todo:
            return
        self.check_paid(delivery)
        album_id = files[0].album_id
        if any(f.method == "batch" for f in todo):
            # An earlier run stopped in the middle of the batch path: its temporary folder may be left.
            self.remove_temp(temp_folder(self.delivery_id, album_id))
        listing = self.list_album(files[0].folder)
        fast = self.try_folder_fast_path(delivery, files) if listing is None and len(todo) == len(files) else ""
        if fast == "saved":
            return
        # The batch path needs room for the whole album for a moment: not worth a try when the
        # whole album just did not fit; file by file delivers what fits, then parks.
        if self.batch_moves and fast != "no_space":
            todo = self.try_batch_path(delivery, files, todo, listing or {})
        for file in todo:
            self.beat()
            self.check_paid(delivery)
            self.deliver_file(delivery, file)

    def folder_reference(self, delivery: Delivery, files: list[DeliveryFile]) -> AlbumFolderRef | None:
        """The store's folder reference for this album and format, if it holds exactly these files."""
        album = files[0].album
        ref = db.session.scalar(select(AlbumFolderRef).where(
            AlbumFolderRef.album_id == album.id, AlbumFolderRef.format == delivery.format))
        if ref is None or ref.dropbox_path != store_folder(album, delivery.format) or ref.file_count != len(files):
            return None
        return ref

    def save_folder(self, ref: AlbumFolderRef, path: str) -> str:
        """Save the store's album folder at ``path``: 'saved', 'conflict', 'no_space' or 'refused'."""
        for attempt in range(2):
            try:
                self.call(lambda: self.dbx.files_copy_reference_save(ref.copy_ref, path))
                return "saved"
            except ApiError as exc:
                error = exc.error
                if error.is_path() and error.get_path().is_conflict():
                    return "conflict"
                if error.is_path() and error.get_path().is_insufficient_space():
                    return "no_space"
                if attempt == 0 and (error.is_invalid_copy_reference() or error.is_no_permission()
                                     or error.is_not_found()):
                    if not self.remint(ref):
                        return "refused"
                    continue
                log.info("delivery %s: folder reference refused (%s)", self.delivery_id, describe_error(exc))
                return "refused"
            except (FileFailed, BadInputError):
                return "refused"
        return "refused"

    def try_folder_fast_path(self, delivery: Delivery, files: list[DeliveryFile]) -> str:
        """The buyer has no folder for this album: save the store's whole folder in one call.

        :returns: the outcome of :meth:`save_folder` ('saved' when the album is delivered), or
            'no_reference'.
        """
        ref = self.folder_reference(delivery, files)
        if ref is None:
            return "no_reference"
        outcome = self.save_folder(ref, files[0].folder)
        if outcome != "saved":
            # Taken meanwhile, too big as a whole, or refused: the next paths take over.
            return outcome
        self.hold_claim()  # a worker that lost its claim meanwhile writes nothing
        now = utcnow()
        for file in files:
            file.status, file.method, file.final_path, file.error = FileStatus.DONE.value, "folder", file.path, None
            file.updated_at = now
        db.session.commit()
        return "saved"

    # -- a half-delivered album: save to a temporary folder, move what is missing ---------

    def try_batch_path(self, delivery: Delivery, files: list[DeliveryFile], todo: list[DeliveryFile],
                       listing: dict[str, dbx_files.Metadata]) -> list[DeliveryFile]:
        """Complete an album whose folder lacks some files; returns the files still to do one by one.

        Files already there with our content hash are marked done without a call. The others
        are moved out of a fresh copy of the store's folder, each to its own name or, when a
        different file has that name, to the first free ``name (n).ext`` (as file by file
        does). The moved files are checked against the batch's own results (name and content
        hash of each moved file), so the verification costs no extra call.

        Every step can be repeated: the files are marked ``method='batch'`` before the save,
        so a run that died anywhere in between leaves a trace, and the next run deletes the
        temporary folder before anything else (:meth:`deliver_album`).
        """
        moves: list[tuple[DeliveryFile, str]] = []
        left: list[DeliveryFile] = []
        taken = dict(listing)
        ref = self.folder_reference(delivery, files)
        self.hold_claim()
        now = utcnow()
        for file in todo:
            target, existing = self.free_name(file, taken)
            if existing is not None:
                file.status, file.method, file.final_path, file.error = (
                    FileStatus.DONE.value, "already_there", existing, None)
                file.updated_at = now
            elif target is None:
                left.append(file)
            else:
                taken[target.lower()] = dbx_files.FolderMetadata(name=target, id="id:reserved")
                moves.append((file, target))
                if ref is not None:
                    # The trace a run that dies from here on leaves (see deliver_album).
                    file.status, file.method = FileStatus.COPYING.value, "batch"
        db.session.commit()
        if ref is None or not moves:
            return left + [file for file, _ in moves]
        temp = temp_folder(self.delivery_id, files[0].album_id)
        outcome = self.save_folder(ref, temp)
        if outcome == "conflict":
            # Left by a run that died after its save: start again from a fresh copy.
            self.remove_temp(temp)
            outcome = self.save_folder(ref, temp)
        if outcome != "saved":
            log.info("delivery %s: batch path not possible (%s); going file by file", self.delivery_id, outcome)
            return left + [file for file, _ in moves]
        results = self.move_batch([(f"{temp}/{file.name}", f"{file.folder}/{target}") for file, target in moves])
        # Not in a ``finally``: a run that dies here leaves its ``batch`` marks, and the next run
        # deletes the folder first (a killed process runs no cleanup either).
        self.remove_temp(temp)
        if results is None or len(results) != len(moves):
            results = [None] * len(moves)
        self.hold_claim()
        now = utcnow()
        for (file, _), entry in zip(moves, results, strict=True):
            if isinstance(entry, dbx_files.FileMetadata) and entry.content_hash == file.track_file.dropbox_content_hash:
                file.status, file.final_path, file.error = FileStatus.DONE.value, entry.path_display, None
                file.updated_at = now
            else:
                left.append(file)  # not moved, or not ours: file by file sorts it out
        db.session.commit()
        return left

    def free_name(self, file: DeliveryFile, taken: dict[str, dbx_files.Metadata]) -> tuple[str | None, str | None]:
        """``(name to move to, None)``, or ``(None, path)`` when our file is already there, or (None, None)."""
        stem, dot, extension = file.name.rpartition(".")
        for n in range(1, MAX_FREE_NAME_TRIES + 1):
            name = file.name if n == 1 else f"{stem} ({n}){dot}{extension}"
            existing = taken.get(name.lower())
            if existing is None:
                return name, None
            if isinstance(existing, dbx_files.FileMetadata) and \
                    existing.content_hash == file.track_file.dropbox_content_hash:
                return None, existing.path_display or f"{file.folder}/{name}"
        return None, None

    def move_batch(self, moves: list[tuple[str, str]]) -> list[dbx_files.Metadata | None] | None:
        """Move files with one ``move_batch_v2``; per move its new metadata, or None where it failed.

        Returns None when the outcome is unknown (Dropbox lost the job, or it took too long).
        """
        entries = [dbx_files.RelocationPath(from_path=src, to_path=dst) for src, dst in moves]
        try:
            launch = self.call(lambda: self.dbx.files_move_batch_v2(entries, autorename=False))
        except (FileFailed, BadInputError) as exc:
            log.info("delivery %s: move batch refused (%s)", self.delivery_id, describe_error(exc))
            return None
        if launch.is_complete():
            result = launch.get_complete()
        else:
            job_id = launch.get_async_job_id()
            deadline = time.monotonic() + MOVE_BATCH_TIMEOUT
            delay = FIRST_BATCH_CHECK
            while True:
                # A short pause: the heartbeat thread keeps the claim alive, beat() still notices
                # a lost claim (wait() would write a beat for every poll).
                self._sleep(delay)
                self.beat()
                try:
                    status = self.call(lambda: self.dbx.files_move_batch_check_v2(job_id))  # noqa: B023
                except (ApiError, FileFailed) as exc:
                    log.info("delivery %s: move batch lost (%s)", self.delivery_id, describe_error(exc))
                    return None
                if status.is_complete():
                    result = status.get_complete()
                    break
                if time.monotonic() > deadline:
                    log.info("delivery %s: move batch still in progress after %s s", self.delivery_id,
                             MOVE_BATCH_TIMEOUT)
                    return None
                delay = min(delay * 2, MAX_BATCH_CHECK)
        return [entry.get_success() if entry.is_success() else None for entry in result.entries]

    def remove_temp(self, path: str) -> None:
        """Delete a temporary folder (and what is left in it); gone already is fine."""
        try:
            self.call(lambda: self.dbx.files_delete_v2(path))
        except ApiError as exc:
            error = exc.error
            if not (error.is_path_lookup() and error.get_path_lookup().is_not_found()):
                log.warning("delivery %s: could not delete %s (%s)", self.delivery_id, path, describe_error(exc))
        except FileFailed as exc:
            log.warning("delivery %s: could not delete %s (%s)", self.delivery_id, path, exc)

    def list_album(self, folder: str) -> dict[str, dbx_files.Metadata] | None:
        """The buyer's album folder by lower-cased name, or None when there is no such folder."""
        try:
            result = self.call(lambda: self.dbx.files_list_folder(folder))
            entries = list(result.entries)
            while result.has_more:
                cursor = result.cursor
                result = self.call(lambda: self.dbx.files_list_folder_continue(cursor))  # noqa: B023
                entries.extend(result.entries)
        except ApiError as exc:
            error = exc.error
            if error.is_path() and error.get_path().is_not_found():
                return None
            log.info("delivery %s: cannot list %s (%s)", self.delivery_id, folder, describe_error(exc))
            return {}
        except FileFailed as exc:
            log.info("delivery %s: cannot list %s (%s)", self.delivery_id, folder, exc)
            return {}
        return {entry.name.lower(): entry for entry in entries}

    # -- one file --------------------------------------------------------------------------

    def deliver_file(self, delivery: Delivery, file: DeliveryFile) -> None:
        self.hold_claim()
        file.status = FileStatus.COPYING.value
        db.session.commit()
        try:
            method, final_path = self.place(delivery, file)
        except FileFailed as exc:
            # Only while holding the claim: a worker that took over may have delivered it since.
            self.hold_claim()
            file.status, file.error = FileStatus.FAILED.value, str(exc)
        else:
            # The file is in the buyer's Dropbox: that is true whoever holds the claim now.
            file.status, file.method, file.final_path, file.error = FileStatus.DONE.value, method, final_path, None
        db.session.commit()

    def place(self, delivery: Delivery, file: DeliveryFile) -> tuple[str, str]:
        """Put the file at its path, or the first free ``name (n).ext``; returns (method, path)."""
        track_file = file.track_file
        stem, dot, extension = file.name.rpartition(".")
        for n in range(1, MAX_FREE_NAME_TRIES + 1):
            name = file.name if n == 1 else f"{stem} ({n}){dot}{extension}"
            path = f"{file.folder}/{name}"
            outcome = self.save(delivery, file, path)
            if outcome != "conflict":
                return outcome, path
            existing = self.metadata(path)
            if isinstance(existing, dbx_files.FileMetadata) and \
                    existing.content_hash == track_file.dropbox_content_hash:
                return "already_there", existing.path_display or path
        raise FileFailed(f"no free name for {file.name}")

    def save(self, delivery: Delivery, file: DeliveryFile, path: str) -> str:
        """Save one file: 'copy_reference' or 'save_url' on success, 'conflict' when taken."""
        track_file = file.track_file
        reminted = False
        if track_file.copy_ref and track_file.copy_ref_expires_at and track_file.copy_ref_expires_at <= utcnow():
            reminted = self.remint(track_file)
        while track_file.copy_ref:
            try:
                self.call(lambda: self.dbx.files_copy_reference_save(track_file.copy_ref, path))
                return "copy_reference"
            except ApiError as exc:
                error = exc.error
                if error.is_path() and error.get_path().is_conflict():
                    return "conflict"
                if error.is_path() and error.get_path().is_insufficient_space():
                    raise NeedsSpace() from exc
                dead = error.is_invalid_copy_reference() or error.is_no_permission() or error.is_not_found()
                if not dead:
                    raise FileFailed(describe_error(exc)) from exc
                if reminted or not self.remint(track_file):
                    break
                reminted = True
        return self.save_from_url(delivery, file, path)

    def save_from_url(self, delivery: Delivery, file: DeliveryFile, path: str) -> str:
        """No usable copy reference: Dropbox fetches the file from a signed URL of ours."""
        if not delivery.used_fallback:
            delivery.used_fallback = True
            db.session.commit()
        url = signed_file_url(file.id)
        try:
            result = self.call(lambda: self.dbx.files_save_url(path, url))
        except ApiError as exc:
            error = exc.error
            if error.is_path() and error.get_path().is_conflict():
                return "conflict"
            if error.is_path() and error.get_path().is_insufficient_space():
                raise NeedsSpace() from exc
            raise FileFailed(describe_error(exc)) from exc
        deadline = time.monotonic() + SAVE_URL_TIMEOUT
        delay = 0.5
        while result.is_async_job_id():
            if time.monotonic() > deadline:
                raise FileFailed("Dropbox did not finish fetching the file in time")
            self.wait(delay)
            delay = min(delay * 1.5, 5)
            job_id = result.get_async_job_id()
            try:
                status = self.call(lambda: self.dbx.files_save_url_check_job_status(job_id))  # noqa: B023
            except ApiError as exc:
                # invalid_async_job_id: Dropbox no longer knows the transfer (e.g. after a restart).
                raise FileFailed(f"Dropbox lost track of the transfer ({describe_error(exc)})") from exc
            if status.is_complete():
                return "save_url"
            if status.is_failed():
                failure = status.get_failed()
                if failure.is_path() and failure.get_path().is_conflict():
                    # Someone (another worker, a retry after a lost answer) got there first:
                    # place() checks whether it is our file before trying another name.
                    return "conflict"
                if failure.is_path() and failure.get_path().is_insufficient_space():
                    raise NeedsSpace()
                raise FileFailed(f"Dropbox could not fetch the file ({failure})")
        return "save_url"

    # -- store-side references -------------------------------------------------------------

    def store(self) -> dropbox.Dropbox:
        if self._store is None:
            self._store = store_client()
        return self._store

    def fresh_reference(self, path: str | None) -> dbx_files.GetCopyReferenceResult | None:
        """A new copy reference to ``path`` in the store's Dropbox, or None when it cannot be had."""
        if not path:
            return None
        try:
            return self.call(lambda: self.store().files_copy_reference_get(path), store=True)
        except (ApiError, FileFailed, NeedsReconnect) as exc:
            log.warning("delivery %s: cannot mint a reference for %s: %s", self.delivery_id, path, describe_error(exc))
            return None

    def remint(self, row: TrackFile | AlbumFolderRef) -> bool:
        """Mint a new reference for a track file or album folder from the store's copy."""
        result = self.fresh_reference(row.dropbox_path)
        if result is None:
            return False
        record_reference(row, result)
        db.session.commit()
        return True

    # -- reads -----------------------------------------------------------------------------

    def metadata(self, path: str) -> dbx_files.Metadata | None:
        try:
            return self.call(lambda: self.dbx.files_get_metadata(path))
        except ApiError as exc:
            if exc.error.is_path() and exc.error.get_path().is_not_found():
                return None
            raise FileFailed(describe_error(exc)) from exc

    # -- retries ---------------------------------------------------------------------------

    def call(self, fn: Callable[[], T], store: bool = False) -> T:
        """Run one API call with our retry policy.

        429: wait ``Retry-After`` (or back off) and go on, up to a total wait.
        5xx and network errors: bounded retries with jittered backoff.
        Auth errors on the buyer's client: :class:`NeedsReconnect`.
        """
        waited = 0.0
        server_errors = 0
        while True:
            try:
                return fn()
            except RateLimitError as exc:
                pause = float(exc.backoff) if exc.backoff else min(2 ** min(server_errors + 1, 6), 60)
                if waited + pause > MAX_RATE_LIMIT_WAIT:
                    raise FileFailed("Dropbox kept asking us to slow down") from exc
                waited += pause
                self.wait(pause)
            except (InternalServerError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                server_errors += 1
                if server_errors > MAX_SERVER_ERROR_RETRIES:
                    raise FileFailed(f"Dropbox is having trouble ({type(exc).__name__})") from exc
                self.wait(min(2 ** server_errors, 30) * (0.5 + random.random() / 2))
            except AuthError as exc:
                if store:
                    raise FileFailed("the store's Dropbox link is broken: run `flask dropbox link-store`") from exc
                raise NeedsReconnect() from exc
            except BadInputError as exc:
                raise FileFailed(f"Dropbox refused the request ({exc.message[:200]})") from exc
            except HttpError as exc:
                raise FileFailed(f"unexpected answer from Dropbox ({exc.status_code})") from exc
