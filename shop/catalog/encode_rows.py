"""A track's encodes as the database sees them: claim, heartbeat, finish, fail.

Each track has one :class:`~shop.models.Encode` row per buyer format plus one for the
preview. :func:`claim` takes the track's pending, failed and stale rows in one UPDATE;
:func:`prepare` downloads the master from storage to a temporary file; for each claimed
format, :func:`finish` puts the encoded file in storage under its content-addressed key,
then writes the :class:`~shop.models.TrackFile` (or the track's preview columns) and marks
the row done in one transaction. A job killed mid-way leaves no half row: the file is either
in storage with its row, or the row is still ``running`` and becomes stale
(:data:`STALE_AFTER`), and the sweep enqueues the track again. Encodes are deterministic,
so a re-run lands on the same keys with the same bytes.

A master the encoder refuses (corrupt, truncated) fails its encodes for good, with the
reason; other errors (storage down) put them back to ``pending`` up to
:data:`MAX_ATTEMPTS` times (:func:`fail`).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import selectinload

from shop.catalog.encode_work import EncodeOutput, EncodeTask
from shop.catalog.hashing import storage_key
from shop.catalog.tag_writing import TrackTags
from shop.extensions import db
from shop.models import FORMATS, PREVIEW, Album, Encode, EncodeStatus, Track, TrackFile, utcnow
from shop.storage import Storage

log = logging.getLogger(__name__)

#: Every Encode row a track with a master has: the buyer formats, then the preview.
ENCODE_FORMATS: tuple[str, ...] = (*FORMATS, PREVIEW)
#: A running encode whose job showed no progress for this long is presumed dead.
STALE_AFTER = timedelta(minutes=10)
#: Tries of an encode that failed for another reason than its master (storage, say).
MAX_ATTEMPTS = 3


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


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def refusal(task: EncodeTask, key: str | None, reason: str) -> str:
    return f"master of {task.label} ({key}) refused: {reason}"


def master_key(track_id: int) -> str | None:
    return db.session.scalar(select(Track.master_key).where(Track.id == track_id))
