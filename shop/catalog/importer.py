"""Importing album folders of masters into a pack.

Two phases, so a bad folder changes nothing:

1. :func:`shop.catalog.scan.scan_albums` reads and probes every master and checks the
   whole import -- no database writes, no storage writes.
2. :func:`import_albums` then creates or attaches rows in one transaction (tracks with
   their master, and one pending :class:`~shop.models.Encode` per buyer format and the
   preview), copies only the blobs storage lacks under their content-addressed keys, and
   commits. The buyer files are encoded afterwards (:mod:`shop.catalog.jobs`); until
   they all are, the pack is "being prepared" and not on sale.

Re-importing the same folder finds every row and blob already there and changes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from shop.artists import artist_named
from shop.catalog.encode_rows import ENCODE_FORMATS
from shop.catalog.pack_settings import InvalidPackSetting, PackSettings
from shop.catalog.report import AlbumResult, ImportReport
from shop.catalog.scan import CatalogImportError, Echo, ScannedAlbum, ScannedTrack, scan_albums
from shop.currencies import format_plain
from shop.extensions import db
from shop.models import Album, Encode, EncodeStatus, Pack, Track
from shop.storage import Storage, get_storage

__all__ = ["CatalogImportError", "Echo", "ImportReport", "check_database", "check_settings", "import_albums"]


def check_settings(settings: PackSettings) -> None:
    """Validate pack settings against the app's price cap. Needs an app context.

    :raises CatalogImportError: naming the bad setting.
    """
    try:
        settings.validate(current_app.config.get("MAX_AMOUNT_CENTS"))
    except InvalidPackSetting as exc:
        raise CatalogImportError(str(exc)) from None


def check_database() -> None:
    """Fail fast, with a hint, when the catalog tables are missing. Needs an app context.

    :raises CatalogImportError: when the database cannot be read.
    """
    try:
        # Its own short connection: no session transaction stays open while files are read.
        with db.engine.connect() as connection:
            connection.execute(select(Pack.id).limit(1))
    except (OperationalError, ProgrammingError) as exc:
        raise CatalogImportError(
            f"cannot read the catalog tables ({type(exc.orig).__name__}); "
            "create or update the database first: flask --app shop db upgrade"
        ) from None


def import_albums(
    root: Path,
    settings: PackSettings,
    echo: Echo | None = None,
    storage: Storage | None = None,
) -> ImportReport:
    """Import every album under ``root`` into the pack ``settings.slug``, creating the pack
    if it is new. Needs an app context; commits once, or rolls back and raises.

    :raises CatalogImportError: for bad input or a conflict with what the pack already
        holds; the database is left as it was.
    """
    check_settings(settings)
    check_database()
    storage = storage or get_storage()
    with tempfile.TemporaryDirectory(prefix="catalog-import-") as workdir:
        if echo:
            echo(f"Reading {root}")
        albums = scan_albums(Path(root), Path(workdir), echo)
        try:
            report, new_tracks = _write(settings, albums, storage)
            db.session.commit()
            report.encode_track_ids = sorted(track.id for track in new_tracks)
        except IntegrityError as exc:
            db.session.rollback()
            raise CatalogImportError(
                "the database refused the import (another import running at the same time?): "
                f"{exc.orig}"
            ) from None
        except BaseException:
            db.session.rollback()
            raise
    return report


def _write(settings: PackSettings, albums: list[ScannedAlbum], storage: Storage) -> tuple[ImportReport, list[Track]]:
    report = ImportReport(slug=settings.slug)
    to_encode: list[Track] = []
    pack = db.session.scalar(select(Pack).where(Pack.slug == settings.slug))
    if pack is None:
        pack = _new_pack(settings)
        db.session.add(pack)
        report.pack_created = True
    else:
        report.notes.extend(_ignored_settings(pack, settings))

    next_position = max((a.position for a in pack.albums), default=0) + 1
    blobs: dict[str, Path] = {}
    for scanned in albums:
        album = next(
            (a for a in pack.albums if (a.artist, a.title) == (scanned.artist, scanned.title)), None
        )
        if album is None:
            artist = artist_named(db.session(), scanned.artist)
            album = Album(position=next_position, artist=scanned.artist, title=scanned.title)
            next_position += 1
            pack.albums.append(album)
            album.artist_record = artist  # once the album is in the session (it joins the artist's albums)
            result = _fill_new_album(album, scanned, to_encode)
            if artist in db.session.new and artist.same_as is not None:
                report.notes.append(f"the artist {artist.name!r} is new, spelled like {artist.same_as.name!r}: "
                                    "possibly the same artist; merge them or keep them apart in the console "
                                    "(/admin/artists)")
        else:
            result = _merge_album(album, scanned, to_encode)
        result.notes.extend(scanned.notes)
        report.albums.append(result)
        if scanned.cover is not None and album.cover_key == scanned.cover.key:
            blobs[scanned.cover.key] = scanned.cover.path
        for track in scanned.tracks:
            blobs[track.master.key] = track.master.path

    # Constraint violations surface here, before any blob is written.
    db.session.flush()
    for key, path in blobs.items():
        # Content-addressed: a present key already holds these bytes. A missing one (an
        # emptied media folder, say) is restored, which is why unchanged rows are checked too.
        if not storage.exists(key):
            storage.put_file(key, path)
            report.blobs_written += 1
    return report, to_encode


def _new_pack(settings: PackSettings) -> Pack:
    starts_at, ends_at = settings.window()
    minimum, suggested = settings.resolved_prices()
    return Pack(
        slug=settings.slug,
        title=settings.default_title(),
        blurb=(settings.blurb or "").strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        currency=settings.currency or "USD",
        min_price_cents=minimum,
        suggested_price_cents=suggested,
    )


def _ignored_settings(pack: Pack, settings: PackSettings) -> list[str]:
    """Settings given for a pack that exists and differ from it: reported, never applied."""
    differing = []
    if settings.title is not None and settings.title.strip() != pack.title:
        differing.append(f"title (it stays {pack.title!r})")
    if settings.blurb is not None and settings.blurb.strip() != pack.blurb:
        differing.append("blurb")
    if settings.starts_at is not None and settings.starts_at != pack.starts_at:
        differing.append(f"start (it stays {pack.starts_at:%Y-%m-%d %H:%M} UTC)")
    if settings.days is not None and pack.ends_at - pack.starts_at != timedelta(days=settings.days):
        differing.append(f"days (it ends {pack.ends_at:%Y-%m-%d %H:%M} UTC)")
    if settings.min_price_cents is not None and settings.min_price_cents != pack.min_price_cents:
        differing.append(f"minimum price (it stays {format_plain(pack.min_price_cents, pack.currency)})")
    if (
        settings.suggested_price_cents is not None
        and settings.suggested_price_cents != pack.suggested_price_cents
    ):
        differing.append(f"suggested price (it stays {format_plain(pack.suggested_price_cents, pack.currency)})")
    if settings.currency is not None and settings.currency != pack.currency:
        differing.append(f"currency (it stays {pack.currency})")
    if not differing:
        return []
    return [
        f"pack {pack.slug!r} already exists, so these settings were not applied: "
        + ", ".join(differing)
    ]


def _fill_new_album(album: Album, scanned: ScannedAlbum, to_encode: list[Track]) -> AlbumResult:
    album.genre = scanned.genre
    album.year = scanned.year
    _set_cover(album, scanned)
    result = AlbumResult(artist=scanned.artist, title=scanned.title, status="added")
    for track in scanned.tracks:
        row = Track(number=track.number, title=track.title, duration_ms=track.duration_ms)
        album.tracks.append(row)
        _set_master(row, track)
        _add_encodes(row, to_encode)
        result.tracks_added += 1
        result.masters_added += 1
    return result


def _merge_album(album: Album, scanned: ScannedAlbum, to_encode: list[Track]) -> AlbumResult:
    """Attach what the catalog lacks (new tracks, the master of a track imported before
    masters, a first cover); refuse any change to what is already there, since buyers may
    already hold files encoded from it."""
    result = AlbumResult(artist=scanned.artist, title=scanned.title)
    conflicts = []
    if album.genre != scanned.genre:
        conflicts.append(f"genre is {album.genre!r} in the catalog, {scanned.genre!r} in the folder")
    if album.year != scanned.year:
        conflicts.append(f"year is {album.year} in the catalog, {scanned.year} in the folder")
    cover = scanned.cover
    replace_cover = False
    if cover is not None:
        if album.cover_sha256 is None:
            _set_cover(album, scanned)
            result.status = "extended"
        elif album.cover_sha256 in (cover.digests.sha256, cover.original_sha256):
            pass  # the same cover (as stored now, or as imported before covers were re-encoded)
        elif _cover_replaceable(album):
            replace_cover = True
        else:
            conflicts.append(f"the cover ({cover.source}) differs from the one in the catalog")

    existing = {t.number: t for t in album.tracks}
    for track in scanned.tracks:
        row = existing.get(track.number)
        if row is None:
            row = Track(number=track.number, title=track.title, duration_ms=track.duration_ms)
            album.tracks.append(row)
            _set_master(row, track)
            _add_encodes(row, to_encode)
            result.tracks_added += 1
            result.masters_added += 1
            continue
        if row.title != track.title:
            conflicts.append(f"track {track.number} is {row.title!r} in the catalog, {track.title!r} in the folder")
        result.tracks_unchanged += 1
        if row.master_sha256 is None:
            # Imported before masters: its files get re-encoded from the master.
            _set_master(row, track)
            result.masters_added += 1
        elif row.master_sha256 != track.master.digests.sha256:
            conflicts.append(
                f"{track.master.path.name} differs from the master already imported for track {track.number}"
            )
        else:
            result.masters_unchanged += 1
        _add_encodes(row, to_encode)

    if conflicts:
        raise CatalogImportError(
            f"{scanned.folder}: {scanned.label} is already in the pack with different content:\n  - "
            + "\n  - ".join(conflicts)
        )
    if replace_cover:
        _set_cover(album, scanned)
        _encode_again(album, to_encode)
        result.status = "extended"
        result.notes.append(f"the cover ({cover.source if cover else ''}) replaces the one "
                            "whose encodes failed; the album's files are encoded again")
    if result.tracks_added or result.masters_added:
        result.status = "extended"
    return result


def _cover_replaceable(album: Album) -> bool:
    """Whether a new cover may replace the album's: some encode failed and none made a buyer
    file (the cover is inside every one) or is running now. A cover the encoder could not
    embed fails every encode of the album, and this is how the operator repairs it."""
    encodes = [e for track in album.tracks for e in track.encodes]
    statuses = {e.status for e in encodes}
    return (EncodeStatus.FAILED.value in statuses and EncodeStatus.RUNNING.value not in statuses
            and not any(track.files for track in album.tracks))


def _encode_again(album: Album, to_encode: list[Track]) -> None:
    """Every encode of the album not done (the failed ones, and a preview's if it failed) back to
    pending with fresh attempts, its tracks queued."""
    for track in album.tracks:
        again = [e for e in track.encodes if e.status != EncodeStatus.DONE.value]
        for encode in again:
            encode.status, encode.attempts, encode.error, encode.worker = EncodeStatus.PENDING.value, 0, None, None
            encode.started_at = encode.heartbeat_at = encode.finished_at = None
        if again and track not in to_encode:
            to_encode.append(track)


def _set_master(row: Track, track: ScannedTrack) -> None:
    master = track.master
    row.master_key = master.key
    row.master_size = master.digests.size
    row.master_sha256 = master.digests.sha256
    row.master_codec = master.info.codec
    row.sample_rate = master.info.sample_rate
    row.bit_depth = master.info.bit_depth
    row.channels = master.info.channels
    row.duration_ms = track.duration_ms


def _add_encodes(row: Track, to_encode: list[Track]) -> None:
    """A pending encode for each buyer format and the preview the track lacks."""
    present = {e.format for e in row.encodes}
    missing = [fmt for fmt in ENCODE_FORMATS if fmt not in present]
    for fmt in missing:
        row.encodes.append(Encode(format=fmt))
    if missing:
        to_encode.append(row)


def _set_cover(album: Album, scanned: ScannedAlbum) -> None:
    if scanned.cover is None:
        return
    album.cover_key = scanned.cover.key
    album.cover_size = scanned.cover.digests.size
    album.cover_crc32 = scanned.cover.digests.crc32
    album.cover_sha256 = scanned.cover.digests.sha256
