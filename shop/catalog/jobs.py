"""The encode job on the ``encoding`` queue, and putting tracks on that queue.

:func:`encode_track` (the RQ entry point, one job per track) claims the track's waiting
encodes, fetches the master and encodes each claimed format, recording each file as it is
done (:mod:`shop.catalog.encode_rows` says how a killed job leaves no half row).
:func:`enqueue_tracks` puts tracks on the queue; :func:`requeue_waiting` is the worker's
sweep for tracks whose job never ran or died.

:func:`shop.catalog.encode_sync.encode_now` does the same work without a queue, tracks in
parallel processes: ``flask catalog import --sync``, ``flask catalog encode --sync`` and the
demo use it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, distinct, or_, select

from shop.catalog.encode_rows import (
    STALE_AFTER,
    claim,
    fail,
    finish,
    heartbeat,
    master_key,
    prepare,
    refusal,
    worker_name,
)
from shop.catalog.encode_work import encode_one
from shop.catalog.masters import MasterError, probe_master
from shop.extensions import db
from shop.models import Album, Encode, EncodeStatus, Track, utcnow
from shop.queue import ENCODING_QUEUE, QueueUnavailable, enqueue, job_is_waiting
from shop.storage import Storage, get_storage

log = logging.getLogger(__name__)

JOB_FUNCTION = "shop.catalog.jobs.encode_track"


def job_id(track_id: int) -> str:
    return f"encode-track-{track_id}"


def encode_track(track_id: int) -> str:
    """RQ entry point: encode the track's waiting formats and preview. Needs an app context
    (the worker's). Idempotent: a track with nothing to claim is left alone.
    """
    try:
        return run_track(track_id)
    finally:
        db.session.remove()


def run_track(track_id: int, storage: Storage | None = None, me: str | None = None) -> str:
    storage = storage or get_storage()
    me = me or worker_name("job")
    formats = claim(track_id, me)
    if not formats:
        return "nothing to encode"
    try:
        with tempfile.TemporaryDirectory(prefix="encode-") as tmp:
            task = prepare(track_id, formats, Path(tmp), storage)
            try:
                master = probe_master(task.master_path)
                for fmt in formats:
                    heartbeat(track_id, me)
                    finish(track_id, me, encode_one(task, fmt, master), storage)
            except MasterError as exc:
                reason = refusal(task, master_key(track_id), exc.reason)
                log.warning("%s", reason)
                fail(track_id, me, reason, retry=False)
                return "master refused"
    except LookupError as exc:
        fail(track_id, me, str(exc), retry=False)
        return "no master"
    except BaseException as exc:
        fail(track_id, me, f"{type(exc).__name__}: {exc}", retry=True)
        raise
    return f"encoded {', '.join(formats)}"


@dataclass
class EnqueueResult:
    enqueued: int = 0
    unavailable: str | None = None


def enqueue_tracks(track_ids: Iterable[int]) -> EnqueueResult:
    """One encode job per track on the ``encoding`` queue. Redis down: the encodes stay
    pending and the worker's sweep enqueues them later."""
    result = EnqueueResult()
    for track_id in track_ids:
        try:
            if not job_is_waiting(job_id(track_id)):
                enqueue(JOB_FUNCTION, track_id, job_id=job_id(track_id), queue=ENCODING_QUEUE)
                result.enqueued += 1
        except QueueUnavailable as exc:
            result.unavailable = str(exc)
            break
    return result


def waiting_track_ids(now: datetime | None = None, pack_id: int | None = None,
                      include_failed: bool = False) -> list[int]:
    """Tracks with an encode pending or stale (and failed, when asked), in id order."""
    now = now or utcnow()
    statuses = [EncodeStatus.PENDING.value] + ([EncodeStatus.FAILED.value] if include_failed else [])
    query = select(distinct(Encode.track_id)).where(
        or_(Encode.status.in_(statuses),
            and_(Encode.status == EncodeStatus.RUNNING.value, Encode.heartbeat_at < now - STALE_AFTER))
    )
    if pack_id is not None:
        query = query.join(Track, Track.id == Encode.track_id).join(Album, Album.id == Track.album_id) \
            .where(Album.pack_id == pack_id)
    return sorted(db.session.scalars(query))


def requeue_waiting() -> int:
    """The sweep: enqueue every track with a pending or stale encode that is not already
    waiting in the queue (Redis was down at import, or a worker died mid-job). Redis
    unavailable: logged, and the next sweep tries again.

    :returns: how many tracks were enqueued.
    """
    count = 0
    try:
        for track_id in waiting_track_ids():
            if not job_is_waiting(job_id(track_id)):
                enqueue(JOB_FUNCTION, track_id, job_id=job_id(track_id), queue=ENCODING_QUEUE)
                count += 1
    except QueueUnavailable as exc:
        log.warning("encode sweep stopped: queue unavailable (%s)", type(exc.__cause__ or exc).__name__)
    finally:
        db.session.commit()
    return count
