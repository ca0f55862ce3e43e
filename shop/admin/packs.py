"""A pack's way to its sale in the console: what each album still needs, the sale state,
and putting a complete pack on sale.

No request objects here. A pack the console creates starts in the future (see
:mod:`shop.admin.pack_form`); it goes on sale early only through :func:`put_on_sale`, which
refuses while anything is missing (:func:`missing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from shop.admin import audit
from shop.admin.models import Operator
from shop.dropbox.models import AlbumFolderRef
from shop.extensions import db
from shop.formats import FORMATS_BY_ID
from shop.models import PREVIEW, Album, Encode, EncodeStatus, Pack, Track, TrackFile, utcnow


@dataclass
class AlbumProgress:
    id: int
    artist: str
    title: str
    tracks: int
    encodes: dict[str, int] = field(default_factory=dict)  # by status
    failures: list[str] = field(default_factory=list)
    files: int = 0
    seeded_files: int = 0
    folders: int = 0
    seeded_folders: int = 0

    @property
    def encodes_total(self) -> int:
        return sum(self.encodes.values())

    @property
    def encodes_done(self) -> int:
        return self.encodes.get(EncodeStatus.DONE.value, 0)

    @property
    def encoded(self) -> bool:
        return self.encodes_done == self.encodes_total

    @property
    def seeded(self) -> bool:
        return self.files > 0 and self.seeded_files == self.files and self.seeded_folders >= self.folders

    @property
    def state(self) -> str:
        if self.encodes.get(EncodeStatus.FAILED.value):
            return "failed"
        if not self.encoded:
            return "encoding"
        return "ready" if self.seeded else "encoded"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "artist": self.artist, "title": self.title, "tracks": self.tracks,
                "state": self.state, "encodes": dict(self.encodes), "encodes_done": self.encodes_done,
                "encodes_total": self.encodes_total, "failures": self.failures, "files": self.files,
                "seeded_files": self.seeded_files, "folders": self.folders, "seeded_folders": self.seeded_folders}


def album_progress(pack: Pack, now: datetime | None = None) -> list[AlbumProgress]:
    """Per album: encodes by status (and each failure's reason), files with a live copy reference."""
    now = now or utcnow()
    albums = {a.id: AlbumProgress(a.id, a.artist, a.title, 0) for a in
              db.session.scalars(select(Album).where(Album.pack_id == pack.id).order_by(Album.position, Album.id))}
    if not albums:
        return []
    ids = list(albums)
    for album_id, count in db.session.execute(
            select(Track.album_id, func.count(Track.id)).where(Track.album_id.in_(ids)).group_by(Track.album_id)):
        albums[album_id].tracks = int(count)
    for album_id, status, count in db.session.execute(
            select(Track.album_id, Encode.status, func.count(Encode.id)).join(Track, Track.id == Encode.track_id)
            .where(Track.album_id.in_(ids)).group_by(Track.album_id, Encode.status)):
        albums[album_id].encodes[status] = int(count)
    for album_id, number, title, fmt, error, attempts in db.session.execute(
            select(Track.album_id, Track.number, Track.title, Encode.format, Encode.error, Encode.attempts)
            .join(Track, Track.id == Encode.track_id)
            .where(Track.album_id.in_(ids), Encode.status == EncodeStatus.FAILED.value)
            .order_by(Track.number, Encode.format)):
        label = "preview" if fmt == PREVIEW else FORMATS_BY_ID[fmt].label
        albums[album_id].failures.append(
            f"track {number} {title!r}, {label} (attempt {attempts}): {error or 'no reason recorded'}")
    live = TrackFile.copy_ref.is_not(None) & (TrackFile.copy_ref_expires_at > now)
    for album_id, files, seeded in db.session.execute(
            select(Track.album_id, func.count(TrackFile.id),
                   func.count(TrackFile.id).filter(live))
            .join(Track, Track.id == TrackFile.track_id).where(Track.album_id.in_(ids)).group_by(Track.album_id)):
        albums[album_id].files, albums[album_id].seeded_files = int(files), int(seeded)
    for album_id, folders in db.session.execute(
            select(Track.album_id, func.count(func.distinct(TrackFile.format)))
            .join(Track, Track.id == TrackFile.track_id).where(Track.album_id.in_(ids)).group_by(Track.album_id)):
        albums[album_id].folders = int(folders)
    for album_id, seeded in db.session.execute(
            select(AlbumFolderRef.album_id, func.count(AlbumFolderRef.id))
            .where(AlbumFolderRef.album_id.in_(ids), AlbumFolderRef.copy_ref_expires_at > now)
            .group_by(AlbumFolderRef.album_id)):
        albums[album_id].seeded_folders = int(seeded)
    return list(albums.values())


def dropbox_in_use() -> bool:
    """Whether the store delivers to Dropbox at all (then an album must be seeded to be sold)."""
    return bool(current_app.config.get("DROPBOX_APP_KEY"))


def missing(pack: Pack, albums: list[AlbumProgress]) -> list[str]:
    """What keeps ``pack`` from being complete, in words; empty when it can go on sale."""
    gaps: list[str] = []
    if not albums:
        gaps.append("no albums yet: upload an album's masters")
    for album in albums:
        name = f"{album.artist} \u2014 {album.title}"
        if album.encodes.get(EncodeStatus.FAILED.value):
            gaps.append(f"{name}: {album.encodes[EncodeStatus.FAILED.value]} encode(s) failed "
                        "(fix the master and upload it again, or retry the encoding)")
        waiting = album.encodes_total - album.encodes_done - album.encodes.get(EncodeStatus.FAILED.value, 0)
        if waiting:
            gaps.append(f"{name}: {waiting} of {album.encodes_total} file(s) still to encode")
        if album.encoded and dropbox_in_use() and not album.seeded:
            gaps.append(f"{name}: not seeded to the store's Dropbox "
                        f"({album.seeded_files} of {album.files} files have a copy reference)")
    return gaps


def sale_state(pack: Pack, now: datetime | None = None) -> str:
    """``ended``, ``on sale``, ``preparing`` (in its window, files missing) or ``scheduled``."""
    now = now or utcnow()
    if pack.has_ended(now):
        return "ended"
    if pack.is_on_sale(now):
        return "on sale"
    return "preparing" if pack.starts_at <= now else "scheduled"


class NotReady(ValueError):
    """The pack cannot go on sale; ``str(exc)`` says what is missing."""


def put_on_sale(pack: Pack, operator: Operator, ip: str | None, now: datetime | None = None) -> bool:
    """Start the pack's sale now (its end stays), once nothing is missing.

    :returns: False when it was on sale already.
    :raises NotReady: naming what is missing, or when the pack has ended.
    """
    now = now or utcnow()
    if pack.has_ended(now):
        raise NotReady("the pack has ended")
    if pack.is_on_sale(now):
        return False
    gaps = missing(pack, album_progress(pack, now))
    if gaps or pack.is_preparing():
        raise NotReady("; ".join(gaps) or "some files are still being prepared")
    before = pack.starts_at
    if pack.starts_at > now:
        pack.starts_at = now
    audit.record(operator, "pack.put_on_sale", f"pack:{pack.id}",
                 {"slug": pack.slug, "scheduled_start": before.isoformat()}, ip)
    db.session.commit()
    return True
