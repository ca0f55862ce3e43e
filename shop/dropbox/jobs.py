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
import time
from collections.abc import Callable

import dropbox
import requests
from flask import current_app
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from shop.dropbox import album_paths, notify
from shop.dropbox.album_paths import temp_folder
from shop.dropbox.calls import NeedsReconnect, NeedsSpace, Run
from shop.dropbox.claims import Claim, LostClaim
from shop.dropbox.client import buyer_client, held_token
from shop.dropbox.connections import connection_for, remember_refreshed_token
from shop.dropbox.deliveries import OrderNotPaid, stop_reason, updated_rows
from shop.dropbox.file_path import deliver_file
from shop.dropbox.models import Delivery, DeliveryFile, DeliveryStatus, FileStatus
from shop.dropbox.space import space_usage
from shop.extensions import db
from shop.formatting import filesize
from shop.models import OrderStatus, utcnow
from shop.order_links import order_status_now

log = logging.getLogger(__name__)

# Runs of one delivery (each crash or stale takeover is one more) before it is given up.
MAX_ATTEMPTS = 10


def run_delivery(delivery_id: int) -> str:
    """RQ entry point. Returns a short outcome for RQ's job result."""
    return Deliverer(delivery_id).run()


class Deliverer:
    def __init__(self, delivery_id: int, sleep: Callable[[float], None] = time.sleep,
                 batch_moves: bool = True) -> None:
        """:param batch_moves: False turns the batch path off (file by file, as before; benchmarks)."""
        self.delivery_id = delivery_id
        self.batch_moves = batch_moves
        self._claim = Claim(delivery_id, sleep)
        self._run: Run | None = None
        self._connection_id: int | None = None
        self._token_at_start: str | None = None

    @property
    def worker(self) -> str:
        return self._claim.worker

    @property
    def run_context(self) -> Run:
        """The buyer's client and the claim, made when the run starts."""
        if self._run is None:
            raise RuntimeError("the buyer's Dropbox client is made by run_claimed()")
        return self._run

    def claim(self) -> bool:
        """Atomically take the delivery: queued, or running with a stale heartbeat."""
        return self._claim.take()

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> str:
        if not self.claim():
            return "not claimed (running elsewhere or finished)"
        self._claim.start_heartbeat(current_app._get_current_object())  # type: ignore[attr-defined]
        try:
            return self.run_claimed()
        except LostClaim:
            db.session.rollback()
            return "lost claim"
        finally:
            self._claim.stop_heartbeat()
            self.remember_token()

    def remember_token(self) -> None:
        """Store an access token the SDK refreshed during the job, so the next job need not."""
        if self._run is None or self._connection_id is None:
            return
        try:
            db.session.rollback()
            remember_refreshed_token(self._connection_id, self._run.dbx, self._token_at_start)
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.warning("delivery %s: could not store the refreshed token (%s)", self.delivery_id,
                        type(exc).__name__)

    def run_claimed(self) -> str:
        self._claim.beat(force=True)
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
        dbx = buyer_client(connection)
        self._run = Run(self.delivery_id, dbx, self._claim)
        self._connection_id = connection.id
        self._token_at_start, _ = held_token(dbx)
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
        status = order_status_now(delivery.order_id)
        if status != OrderStatus.PAID.value:
            raise OrderNotPaid(stop_reason(status or ""))

    def _release(self, **values: object) -> bool:
        """Give the delivery up with ``values``, only if this worker still holds it; files caught
        mid-copy go back to pending (committed). Returns whether it still held it."""
        db.session.rollback()
        result = db.session.execute(
            update(Delivery).where(Delivery.id == self.delivery_id, Delivery.worker == self.worker)
            .values(worker=None, **values)
        )
        held = updated_rows(result) == 1
        if held:
            db.session.execute(
                update(DeliveryFile)
                .where(DeliveryFile.delivery_id == self.delivery_id, DeliveryFile.status == FileStatus.COPYING.value)
                .values(status=FileStatus.PENDING.value)
            )
        db.session.commit()
        return held

    def cancel(self, reason: str) -> str:
        """The order is no longer paid: stop for good. Files already delivered stay done."""
        self._release(status=DeliveryStatus.CANCELLED.value, error=reason, finished_at=utcnow())
        return "cancelled"

    def park(self, message: str, status: DeliveryStatus = DeliveryStatus.NEEDS_RECONNECT) -> str:
        """Stop until the buyer acts (reconnects, makes room); files already copied stay done."""
        if not self._release(status=status.value, error=message):
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
            if self._run is not None:
                free = f", you have {filesize(space_usage(self._run.dbx).free)} free"
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
        """The fastest path that applies (see the module docstring), then file by file."""
        todo = [f for f in files if f.status in (FileStatus.PENDING.value, FileStatus.COPYING.value)]
        if not todo:
            return
        self.check_paid(delivery)
        run = self.run_context
        if any(f.method == "batch" for f in todo):
            # An earlier run stopped in the middle of the batch path: its temporary folder may be left.
            album_paths.remove_temp(run, temp_folder(self.delivery_id, files[0].album_id))
        listing = album_paths.list_album(run, files[0].folder)
        fast = ""
        if listing is None and len(todo) == len(files):
            fast = album_paths.try_folder_fast_path(run, delivery, files)
        if fast == "saved":
            return
        # The batch path needs room for the whole album for a moment: not worth a try when the
        # whole album just did not fit; file by file delivers what fits, then parks.
        if self.batch_moves and fast != "no_space":
            todo = album_paths.try_batch_path(run, delivery, files, todo, listing or {})
        for file in todo:
            self._claim.beat()
            self.check_paid(delivery)
            deliver_file(run, delivery, file)
