"""Seeding albums into the store's Dropbox from the console: queueing the RQ job, and copy references to re-mint.

The seed job (:func:`shop.dropbox.seed.seed_albums`) uploads every file of an album in every format
and mints its copy references: minutes for a real pack, so it runs as a job on the
``encoding`` queue (operator work, behind buyers' deliveries, which workers take first),
never in a web request. The job takes album ids; a second click while one waits is the
same job. Progress is read from the rows the seed writes (files with a live reference, per
album), not from the queue.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from shop.dropbox.models import AlbumFolderRef
from shop.extensions import db
from shop.models import Album, Track, TrackFile, utcnow
from shop.queue import ENCODING_QUEUE, QueueUnavailable, enqueue, get_redis, job_is_waiting

log = logging.getLogger(__name__)

JOB_FUNCTION = "shop.dropbox.seed.seed_albums"  # the job is Dropbox work; the console queues it
#: Copy references expiring within this many days are listed on the workers page.
EXPIRING_WITHIN = timedelta(days=7)


def job_id(album_ids: list[int], remint: bool = False) -> str:
    return f"admin-seed-{'remint-' if remint else ''}{'-'.join(map(str, sorted(album_ids)))}"[:120]


def enqueue_seed(album_ids: list[int], remint_before: datetime | None = None) -> bool:
    """Queue the seed of these albums; False when the same job already waits.

    :raises QueueUnavailable: when Redis cannot be reached (nothing was queued).
    """
    ident = job_id(album_ids, remint=remint_before is not None)
    if job_is_waiting(ident):
        return False
    args: tuple[object, ...] = (sorted(album_ids),)
    if remint_before is not None:
        args = (*args, remint_before.isoformat())
    enqueue(JOB_FUNCTION, *args, job_id=ident, queue=ENCODING_QUEUE)
    return True


def seed_job_state(album_ids: list[int]) -> str | None:
    """RQ's word on the pack's seed job (``queued``, ``started``, ``finished``, ``failed``), or
    None when there is none or Redis does not answer."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id(album_ids), connection=get_redis())
        status = job.get_status(refresh=False)
        return str(status.value) if status is not None else None
    except (NoSuchJobError, QueueUnavailable):
        return None
    except Exception:  # Redis down: the page says what the rows say
        log.debug("seed job state unavailable", exc_info=True)
        return None


def expiring_albums(within: timedelta = EXPIRING_WITHIN, now: datetime | None = None) -> list[tuple[Album, int]]:
    """Albums with copy references (files or folders) that expire within ``within``, and how many."""
    now = now or utcnow()
    horizon = now + within
    counts: dict[int, int] = {}
    for album_id, _file_id in db.session.execute(
            select(Track.album_id, TrackFile.id).join(Track, Track.id == TrackFile.track_id)
            .where(TrackFile.copy_ref.is_not(None), TrackFile.copy_ref_expires_at < horizon)):
        counts[album_id] = counts.get(album_id, 0) + 1
    for album_id, _ in db.session.execute(
            select(AlbumFolderRef.album_id, AlbumFolderRef.id).where(AlbumFolderRef.copy_ref_expires_at < horizon)):
        counts[album_id] = counts.get(album_id, 0) + 1
    if not counts:
        return []
    albums = db.session.scalars(select(Album).where(Album.id.in_(list(counts)))
                                .order_by(Album.pack_id, Album.position)).all()
    return [(album, counts[album.id]) for album in albums]


def expiring_album_ids(within: timedelta = EXPIRING_WITHIN) -> list[int]:
    return sorted(album.id for album, _ in expiring_albums(within))

