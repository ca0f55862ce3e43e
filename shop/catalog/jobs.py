"""Encoding a track's buyer files and preview from its master: the RQ job and its helpers.

Each track has one :class:`~shop.models.Encode` row per buyer format plus one for the
preview. :func:`encode_track` (the RQ entry point, queue ``encoding``, one job per track)
claims the track's pending, failed and stale rows in one UPDATE, downloads the master from
storage to a temporary file, and for each claimed format: encodes it, puts the file in
storage under its content-addressed key, then writes the :class:`~shop.models.TrackFile`
(or the track's preview columns) and marks the row done in one transaction. A job killed
mid-way leaves no half row: the file is either in storage with its row, or the row is
still ``running`` and becomes stale, and the sweep (:func:`requeue_waiting`) enqueues the
track again. Encodes are deterministic, so a re-run lands on the same keys with the same
bytes.

A master the encoder refuses (corrupt, truncated) fails its encodes for good, with the
reason; other errors (storage down) put them back to ``pending`` up to
:data:`MAX_ATTEMPTS` times.

:func:`encode_now` does the same work without a queue, tracks in parallel processes:
``flask catalog import --sync``, ``flask catalog encode --sync`` and the demo use it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, case, distinct, or_, select, update
from sqlalchemy.orm import selectinload

from shop.catalog.encoding import encode
from shop.catalog.hashing import Digests, storage_key
from shop.catalog.masters import MasterError, MasterInfo, probe_master
from shop.catalog.previews import make_preview
from shop.catalog.tag_writing import TrackTags
from shop.extensions import db
from shop.formats import get_format
from shop.models import FORMATS, PREVIEW, Album, Encode, EncodeStatus, Track, TrackFile, utcnow
from shop.queue import ENCODING_QUEUE, QueueUnavailable, enqueue, job_is_waiting
from shop.storage import Storage, get_storage

log = logging.getLogger(__name__)

JOB_FUNCTION = "shop.catalog.jobs.encode_track"
#: Every Encode row a track with a master has: the buyer formats, then the preview.
ENCODE_FORMATS: tuple[str, ...] = (*FORMATS, PREVIEW)
#: A running encode whose job showed no progress for this long is presumed dead.
STALE_AFTER = timedelta(minutes=10)
#: Tries of an encode that failed for another reason than its master (storage, say).
MAX_ATTEMPTS = 3

Echo = Callable[[str], None]


def job_id(track_id: int) -> str:
    return f"encode-track-{track_id}"


# ---------------------------------------------------------------------------- the work


@dataclass(frozen=True)
class EncodeTask:
    """Everything needed to encode one track, without the database (picklable)."""

    track_id: int
    label: str
    master_path: Path
    out_dir: Path
    formats: tuple[str, ...]
    tags: TrackTags
    cover: bytes | None


@dataclass(frozen=True)
class EncodeOutput:
    format: str
    path: Path
    digests: Digests
    extension: str
    duration_ms: int


def encode_one(task: EncodeTask, fmt: str, info: MasterInfo | None = None) -> EncodeOutput:
    """Encode one format (or the preview) of ``task``'s master into ``task.out_dir``.

    :raises MasterError: when the master turns out corrupt.
    """
    if fmt == PREVIEW:
        preview = make_preview(task.master_path, task.out_dir / "preview.mp3", master=info)
        return EncodeOutput(fmt, preview.path, preview.digests, "mp3", preview.duration_ms)
    extension = get_format(fmt).extension
    encoded = encode(task.master_path, fmt, task.out_dir / f"{fmt}.{extension}", task.tags, task.cover,
                     master=info)
    return EncodeOutput(fmt, encoded.path, encoded.digests, extension, encoded.duration_ms)


@dataclass(frozen=True)
class TaskResult:
    track_id: int
    outputs: tuple[EncodeOutput, ...] = ()
    #: Why the master was refused; then nothing was encoded.
    error: str | None = None


def run_task(task: EncodeTask) -> TaskResult:
    """Probe the master once and encode every format of ``task`` (runs in a pool process)."""
    try:
        master = probe_master(task.master_path)
        return TaskResult(task.track_id, tuple(encode_one(task, fmt, master) for fmt in task.formats))
    except MasterError as exc:
        return TaskResult(task.track_id, error=exc.reason)


# ---------------------------------------------------------------------------- the database side


def _claimable(now: datetime) -> object:
    return or_(
        Encode.status.in_((EncodeStatus.PENDING.value, EncodeStatus.FAILED.value)),
        and_(Encode.status == EncodeStatus.RUNNING.value, Encode.heartbeat_at < now - STALE_AFTER),
    )


def claim(track_id: int, me: str) -> tuple[str, ...]:
    """Take the track's pending, failed and stale encodes for ``me``, atomically; commit.

    :returns: the claimed formats, in display order (preview last).
    """
    now = utcnow()
    db.session.execute(
        update(Encode)
        .where(Encode.track_id == track_id, _claimable(now))  # type: ignore[arg-type]
        .values(status=EncodeStatus.RUNNING.value, worker=me, started_at=now, heartbeat_at=now,
                finished_at=None, attempts=Encode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    claimed = set(db.session.scalars(
        select(Encode.format).where(Encode.track_id == track_id, Encode.worker == me,
                                    Encode.status == EncodeStatus.RUNNING.value)
    ))
    return tuple(fmt for fmt in ENCODE_FORMATS if fmt in claimed)


def _mine(track_id: int, me: str, formats: Iterable[str] | None = None) -> object:
    condition = and_(Encode.track_id == track_id, Encode.worker == me, Encode.status == EncodeStatus.RUNNING.value)
    return condition if formats is None else and_(condition, Encode.format.in_(tuple(formats)))


def heartbeat(track_id: int, me: str) -> None:
    db.session.execute(
        update(Encode).where(_mine(track_id, me))  # type: ignore[arg-type]
        .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False)
    )
    db.session.commit()


def finish(track_id: int, me: str, output: EncodeOutput, storage: Storage) -> bool:
    """Store one encoded file and record it: the row and ``done`` in one transaction.

    :returns: False when ``me`` no longer holds the encode (then nothing is recorded).
    """
    key = storage_key("previews" if output.format == PREVIEW else "audio", output.digests.sha256, output.extension)
    if not storage.exists(key):
        storage.put_file(key, output.path)
    now = utcnow()
    result = db.session.execute(
        update(Encode).where(_mine(track_id, me, [output.format]))  # type: ignore[arg-type]
        .values(status=EncodeStatus.DONE.value, worker=None, error=None, heartbeat_at=now, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        log.warning("encode %s of track %s was taken over by another job; not recorded", output.format, track_id)
        return False
    track = db.session.get(Track, track_id)
    assert track is not None
    d = output.digests
    if output.format == PREVIEW:
        track.preview_key, track.preview_size, track.preview_sha256 = key, d.size, d.sha256
        track.preview_duration_ms = output.duration_ms
    else:
        row = db.session.scalar(select(TrackFile).where(TrackFile.track_id == track_id,
                                                        TrackFile.format == output.format))
        if row is None:
            row = TrackFile(track_id=track_id, format=output.format)
            db.session.add(row)
        if row.storage_key != key:
            row.storage_key, row.size, row.crc32, row.sha256 = key, d.size, d.crc32, d.sha256
            row.dropbox_content_hash = d.dropbox_content_hash
            # A reference into the store's Dropbox points at the old bytes.
            row.dropbox_path = row.copy_ref = row.copy_ref_expires_at = None
    db.session.commit()
    return True


def fail(track_id: int, me: str, reason: str, *, retry: bool) -> None:
    """Give up ``me``'s remaining encodes of the track: failed for good, or (``retry``) back to
    pending while attempts remain."""
    db.session.rollback()
    status = (
        case((Encode.attempts < MAX_ATTEMPTS, EncodeStatus.PENDING.value), else_=EncodeStatus.FAILED.value)
        if retry else EncodeStatus.FAILED.value
    )
    db.session.execute(
        update(Encode).where(_mine(track_id, me))  # type: ignore[arg-type]
        .values(status=status, worker=None, error=reason[:2000], finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _track_label(track: Track) -> str:
    return f"{track.album.artist} - {track.album.title}, track {track.number} {track.title!r}"


def track_tags(track: Track) -> TrackTags:
    album = track.album
    return TrackTags(
        title=track.title,
        artist=album.artist,
        album=album.title,
        album_artist=album.artist,
        number=track.number,
        total=len(album.tracks),
        year=album.year,
        genre=album.genre or None,
    )


def prepare(track_id: int, formats: tuple[str, ...], workdir: Path, storage: Storage) -> EncodeTask:
    """Fetch the track's master (and cover) from storage into ``workdir``.

    :raises LookupError: when the track or its master is gone.
    """
    track = db.session.scalar(
        select(Track).where(Track.id == track_id)
        .options(selectinload(Track.album).selectinload(Album.tracks))
    )
    if track is None or track.master_key is None:
        raise LookupError(f"track {track_id} has no master")
    label = _track_label(track)
    master_path = workdir / f"master.{track.master_key.rsplit('.', 1)[-1]}"
    local = storage.local_path(track.master_key)
    if local is not None:
        master_path = local
    else:
        with open(master_path, "wb") as fh:
            for chunk in storage.iter_range(track.master_key, 0, storage.size(track.master_key)):
                fh.write(chunk)
    cover = storage.read_bytes(track.album.cover_key) if track.album.cover_key else None
    out_dir = workdir / "out"
    out_dir.mkdir(exist_ok=True)
    tags = track_tags(track)
    db.session.commit()  # no transaction stays open while encoding
    return EncodeTask(track_id, label, master_path, out_dir, formats, tags, cover)


def _me(kind: str) -> str:
    return f"{kind}:{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _refused(task: EncodeTask, key: str | None, reason: str) -> str:
    return f"master of {task.label} ({key}) refused: {reason}"


def _master_key(track_id: int) -> str | None:
    return db.session.scalar(select(Track.master_key).where(Track.id == track_id))


# ---------------------------------------------------------------------------- the RQ job


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
    me = me or _me("job")
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
                reason = _refused(task, _master_key(track_id), exc.reason)
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


# ---------------------------------------------------------------------------- queueing


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


# ---------------------------------------------------------------------------- without a queue


@dataclass
class EncodeSummary:
    tracks: int = 0
    files: int = 0
    failures: list[str] = field(default_factory=list)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers <= 1:
        yield None
        return
    # forkserver: the children start from a clean process (no inherited database
    # connections or threads) and import the encoder, the preview and its numpy once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["shop.catalog.encoding", "shop.catalog.previews", "numpy"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


def encode_now(track_ids: Iterable[int], workers: int | None = None, echo: Echo | None = None,
               storage: Storage | None = None) -> EncodeSummary:
    """Encode the tracks' waiting formats here and now, tracks in parallel processes (the
    database and storage writes stay in this process). Needs an app context.

    A track is claimed (and its master fetched) only when a process is about to take it, and
    the claims in flight are renewed as results come in, so a long run never looks stale to
    a worker's sweep.
    """
    storage = storage or get_storage()
    me = _me("sync")
    summary = EncodeSummary()
    waiting = list(track_ids)
    workers = min(workers or default_workers(), max(1, len(waiting)))
    with tempfile.TemporaryDirectory(prefix="encode-") as tmp, _pool(workers) as pool:

        def take() -> EncodeTask | None:
            """The next track with something to encode, claimed and fetched; None when done."""
            while waiting:
                track_id = waiting.pop(0)
                formats = claim(track_id, me)
                if not formats:
                    continue
                workdir = Path(tmp) / str(track_id)
                workdir.mkdir()
                try:
                    return prepare(track_id, formats, workdir, storage)
                except LookupError as exc:
                    fail(track_id, me, str(exc), retry=False)
                    summary.failures.append(str(exc))
            return None

        if pool is None:
            while (task := take()) is not None:
                _record(task, _run_safely(task), me, storage, summary, echo)
            return summary
        in_flight: dict[Future[TaskResult], EncodeTask] = {}
        while True:
            while len(in_flight) < workers and (task := take()) is not None:
                in_flight[pool.submit(run_task, task)] = task
            if not in_flight:
                return summary
            finished = next(as_completed(in_flight))
            task = in_flight.pop(finished)
            _record(task, finished.exception() or finished.result(), me, storage, summary, echo)
            for other in in_flight.values():
                heartbeat(other.track_id, me)


def _run_safely(task: EncodeTask) -> TaskResult | BaseException:
    try:
        return run_task(task)
    except Exception as exc:  # recorded as a retryable failure, like a crashed job
        return exc


def _record(task: EncodeTask, result: TaskResult | BaseException, me: str, storage: Storage,
            summary: EncodeSummary, echo: Echo | None) -> None:
    summary.tracks += 1
    reason = None
    if isinstance(result, BaseException):
        reason = f"{task.label}: {type(result).__name__}: {result}"
        fail(task.track_id, me, reason, retry=True)
    elif result.error is not None:
        reason = _refused(task, _master_key(task.track_id), result.error)
        fail(task.track_id, me, reason, retry=False)
    else:
        for output in result.outputs:
            if finish(task.track_id, me, output, storage):
                summary.files += 1
    if reason is not None:
        summary.failures.append(reason)
    if echo:
        echo(f"  FAILED: {reason}" if reason else f"  encoded {task.label} ({len(task.formats)} files)")
