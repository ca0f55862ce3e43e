"""A delivery as the order page shows it: the progress JSON it polls, and whether anything is
moving the delivery at all (:func:`is_stalled`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shop.dropbox.deliveries import LOST_AFTER, REPEAT_WINDOW, stale_after
from shop.dropbox.models import Delivery, DeliveryStatus, FileStatus
from shop.models import utcnow

PAUSED_NOTICE = "Paused: waiting for our delivery service to restart; this will continue by itself."


def is_stalled(delivery: Delivery, now: datetime) -> bool:
    """Under way in the database, but no worker is moving it (none running, or one died).

    The sweep of the next worker to start picks it up again, so the buyer need do nothing.
    """
    if delivery.status == DeliveryStatus.RUNNING.value:
        return delivery.heartbeat_at is None or delivery.heartbeat_at < now - stale_after()
    if delivery.status == DeliveryStatus.QUEUED.value:
        waiting_since = delivery.enqueued_at or delivery.created_at
        return waiting_since is not None and waiting_since < now - LOST_AFTER
    return False


def progress(delivery: Delivery, now: datetime | None = None) -> dict[str, Any]:
    """The JSON the order page polls.

    ``heartbeat_age`` is the seconds since the worker last said it was alive; ``stalled``
    and ``notice`` say when nothing is moving the delivery (see :func:`is_stalled`).
    """
    now = now or utcnow()
    stalled = is_stalled(delivery, now)
    finished_for = now - delivery.finished_at if delivery.finished_at is not None else None
    files = delivery.files
    done = sum(1 for f in files if f.status == FileStatus.DONE.value)
    folders = sorted({f.folder for f in files})
    return {
        "id": delivery.id,
        "status": delivery.status,
        "format": delivery.format,
        "target": delivery.target,
        "done": done,
        "total": len(files),
        "folders": folders,
        "used_fallback": delivery.used_fallback,
        "files": [
            {"name": f.name, "folder": f.folder, "status": f.status, "path": f.final_path or f.path}
            for f in files
        ],
        "error": delivery.error,
        "finished_ago": _ago(finished_for) if finished_for is not None else None,
        # Done so recently that a click gets this delivery back: the page offers to send it again.
        "send_again": finished_for is not None and delivery.status == DeliveryStatus.DONE.value
                      and finished_for <= REPEAT_WINDOW,
        "heartbeat_age": round((now - delivery.heartbeat_at).total_seconds()) if delivery.heartbeat_at else None,
        "stalled": stalled,
        "notice": PAUSED_NOTICE if stalled else None,
    }


def _ago(elapsed: timedelta) -> str:
    """``"just now"``, ``"2 minutes ago"``, ``"1 hour ago"``, ``"3 days ago"``."""
    seconds = max(0, int(elapsed.total_seconds()))
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = seconds // length
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"
