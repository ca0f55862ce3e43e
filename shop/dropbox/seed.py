"""The seed: put every track file into the store's Dropbox once and mint copy references.

For each album and format, files go to :func:`shop.dropbox.paths.store_folder`. A file
already there with the same content hash is skipped, so a second run uploads nothing.
Then every file and every album-and-format folder gets a copy reference, recorded with
its expiry on the rows; missing or expired references are minted again.

:func:`seed_albums` is the RQ job the operator console queues (``shop/admin/seeding.py``);
``flask dropbox seed`` calls :func:`run_seed` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dropbox
from dropbox import files as dbx_files
from dropbox.exceptions import ApiError, DropboxException
from sqlalchemy import select, update

from shop.catalog.layout import track_entries
from shop.dropbox.client import DropboxNotConfigured, store_client
from shop.dropbox.models import AlbumFolderRef
from shop.dropbox.paths import store_folder
from shop.dropbox.references import describe_error, record_reference
from shop.extensions import db
from shop.models import FORMATS, Album, Pack, Track, TrackFile, utcnow
from shop.storage import get_storage

log = logging.getLogger(__name__)

# Dropbox takes at most 150 MiB per request: larger files go through an upload session.
SINGLE_UPLOAD_LIMIT = 150 * 1024 * 1024
SESSION_CHUNK = 32 * 1024 * 1024
# Re-mint references that expire within this margin, so a delivery never holds a dead one.
EXPIRY_MARGIN = timedelta(days=1)


@dataclass
class SeedSummary:
    uploaded: int = 0
    uploaded_bytes: int = 0
    skipped: int = 0
    references_minted: int = 0
    references_kept: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str, exc: Exception) -> None:
        self.failed += 1
        self.failures.append(f"{what}: {describe_error(exc)}")
        log.warning("seed: %s failed: %s", what, describe_error(exc))


def albums_in_scope(album_id: int | None = None, pack_slug: str | None = None) -> list[Album]:
    query = select(Album).order_by(Album.pack_id, Album.position, Album.id)
    if album_id is not None:
        query = query.where(Album.id == album_id)
    if pack_slug is not None:
        query = query.join(Pack).where(Pack.slug == pack_slug)
    return list(db.session.scalars(query))


def _needs_reference(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or expires_at - EXPIRY_MARGIN <= now


def _remote_hash(dbx: dropbox.Dropbox, path: str) -> str | None:
    try:
        meta = dbx.files_get_metadata(path)
    except ApiError as exc:
        if exc.error.is_path() and exc.error.get_path().is_not_found():
            return None
        raise
    return meta.content_hash if isinstance(meta, dbx_files.FileMetadata) else None


def upload_file(dbx: dropbox.Dropbox, file: TrackFile, path: str) -> None:
    """Upload one stored file to ``path``, in one request or through an upload session."""
    storage = get_storage()
    mode = dbx_files.WriteMode.overwrite
    if file.size <= SINGLE_UPLOAD_LIMIT:
        data = b"".join(storage.iter_range(file.storage_key, 0, file.size))
        dbx.files_upload(data, path, mode=mode, mute=True)
        return
    offset = 0
    session_id = None
    while offset < file.size:
        length = min(SESSION_CHUNK, file.size - offset)
        chunk = b"".join(storage.iter_range(file.storage_key, offset, length))
        if session_id is None:
            session_id = dbx.files_upload_session_start(chunk).session_id
        else:
            cursor = dbx_files.UploadSessionCursor(session_id=session_id, offset=offset)
            dbx.files_upload_session_append_v2(chunk, cursor)
        offset += length
    cursor = dbx_files.UploadSessionCursor(session_id=session_id, offset=offset)
    commit = dbx_files.CommitInfo(path=path, mode=mode, mute=True)
    dbx.files_upload_session_finish(b"", cursor, commit)


def seed_album(dbx: dropbox.Dropbox, album: Album, summary: SeedSummary, dry_run: bool = False,
               on_file: Callable[[], None] | None = None) -> None:
    now = utcnow()
    for fmt in FORMATS:
        planned = track_entries(album, fmt)
        if not planned:
            continue
        folder = store_folder(album, fmt)
        folder_ok = True
        for item in planned:
            file, path = item.file, f"{folder}/{item.name}"
            try:
                if _remote_hash(dbx, path) == file.dropbox_content_hash:
                    summary.skipped += 1
                else:
                    if not dry_run:
                        upload_file(dbx, file, path)
                        file.copy_ref = None  # minted for other content: mint anew below
                    summary.uploaded += 1
                    summary.uploaded_bytes += file.size
                if file.dropbox_path != path or _needs_reference(file.copy_ref_expires_at, now) or not file.copy_ref:
                    if not dry_run:
                        record_reference(file, dbx.files_copy_reference_get(path))
                        file.dropbox_path = path
                    summary.references_minted += 1
                else:
                    summary.references_kept += 1
            except DropboxException as exc:
                folder_ok = False
                summary.fail(f"{album.artist} - {album.title} {fmt} #{file.track.number}", exc)
            if on_file:
                on_file()
        if not dry_run:
            db.session.commit()
        if folder_ok:
            _seed_folder_reference(dbx, album, fmt, folder, len(planned), summary, dry_run, now)


def _seed_folder_reference(dbx: dropbox.Dropbox, album: Album, fmt: str, folder: str, count: int,
                           summary: SeedSummary, dry_run: bool, now: datetime) -> None:
    ref = db.session.scalar(select(AlbumFolderRef).where(AlbumFolderRef.album_id == album.id,
                                                         AlbumFolderRef.format == fmt))
    # A folder reference names the folder, not its contents: it stays good while the
    # folder keeps its path and the reference has not expired.
    if ref is not None and ref.dropbox_path == folder and not _needs_reference(ref.copy_ref_expires_at, now):
        summary.references_kept += 1
        if ref.file_count != count and not dry_run:
            ref.file_count = count
            db.session.commit()
        return
    summary.references_minted += 1
    if dry_run:
        return
    try:
        result = dbx.files_copy_reference_get(folder)
    except DropboxException as exc:
        summary.fail(f"{album.artist} - {album.title} {fmt} folder", exc)
        return
    if ref is None:
        ref = AlbumFolderRef(album_id=album.id, format=fmt)
        db.session.add(ref)
    ref.dropbox_path = folder
    record_reference(ref, result)
    ref.file_count = count
    db.session.commit()


def run_seed(albums: Iterable[Album], dry_run: bool = False,
             on_file: Callable[[], None] | None = None, dbx: dropbox.Dropbox | None = None) -> SeedSummary:
    """Seed ``albums``; failures are counted in the summary, not raised."""
    summary = SeedSummary()
    dbx = dbx or store_client()
    try:
        for album in albums:
            seed_album(dbx, album, summary, dry_run=dry_run, on_file=on_file)
    finally:
        if dry_run:
            db.session.rollback()
    return summary


def seed_albums(album_ids: list[int], remint_before: str | None = None) -> str:
    """The RQ job: seed these albums (and first let references expiring before ``remint_before``,
    an ISO time, count as expired, so the seed mints them again).

    Failures are in the summary (and the log), not raised: the rows say what is seeded.
    """
    if remint_before is not None:
        expire_references_before(album_ids, datetime.fromisoformat(remint_before))
    albums = [a for album_id in album_ids for a in albums_in_scope(album_id=album_id)]
    try:
        summary = run_seed(albums)
    except DropboxNotConfigured as exc:
        log.warning("seed of albums %s not run: %s", album_ids, exc)
        return f"not run: {exc}"
    result = (f"{summary.uploaded} uploaded, {summary.skipped} already there, "
              f"{summary.references_minted} references minted, {summary.failed} failed")
    if summary.failures:
        log.warning("seed of albums %s: %s; %s", album_ids, result, "; ".join(summary.failures[:20]))
    return result


def expire_references_before(album_ids: list[int], before: datetime) -> None:
    """Make references expiring before ``before`` look expired now (committed).

    The seed re-mints only references about to expire within a day; an operator re-minting
    a week ahead needs these seen as expired. The reference itself stays (it still works at
    Dropbox until its real expiry), so a delivery running meanwhile is not disturbed.
    """
    now = utcnow()
    track_files = select(TrackFile.id).join(Track, Track.id == TrackFile.track_id).where(
        Track.album_id.in_(album_ids))
    db.session.execute(update(TrackFile).where(
        TrackFile.id.in_(track_files), TrackFile.copy_ref_expires_at < before,
    ).values(copy_ref_expires_at=now).execution_options(synchronize_session=False))
    db.session.execute(update(AlbumFolderRef).where(
        AlbumFolderRef.album_id.in_(album_ids), AlbumFolderRef.copy_ref_expires_at < before,
    ).values(copy_ref_expires_at=now).execution_options(synchronize_session=False))
    db.session.commit()
