"""Importing album folders into a pack.

Two phases, so a bad folder changes nothing:

1. :func:`scan_albums` reads every file (tags with mutagen, digests in one pass each) and
   checks the whole import — no database writes, no storage writes.
2. :func:`import_albums` then creates or attaches rows in one transaction, copies only the
   blobs storage lacks under their content-addressed keys, and commits.

Re-importing the same folder finds every row and blob already there and changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from shop.catalog.hashing import Digests, digest_file, storage_key
from shop.catalog.pack_settings import InvalidPackSetting, PackSettings
from shop.catalog.tags import AUDIO_EXTENSIONS, AudioTags, UnreadableAudio, clean_text, read_tags
from shop.extensions import db
from shop.models import FORMATS, Album, Pack, Track, TrackFile
from shop.storage import Storage, get_storage

T = TypeVar("T")

COVER_NAMES = ("cover", "folder")
COVER_EXTENSIONS = (".jpg", ".jpeg", ".png")
# The lossless encodings give the most exact duration; MP3 adds encoder padding.
DURATION_PREFERENCE = ("flac", "wav", "mp3")
ARTIST_MAX, ALBUM_MAX, TRACK_TITLE_MAX, GENRE_MAX = 200, 200, 300, 80
UNKNOWN_ARTIST = "Unknown Artist"

_LEADING_NUMBER = re.compile(r"^\s*(\d{1,4})(?!\d)")
_NUMBER_PREFIX = re.compile(r"^\s*\d{1,4}(?!\d)\s*(?:[-._)\]:]+\s*)?")
_FOLDER_SPLIT = re.compile(r"\s+[-\u2013\u2014]\s+")

Echo = Callable[[str], None]


class CatalogImportError(Exception):
    """The import was refused; the message names the file or folder and what is wrong.

    Nothing was written to the database.
    """


# -- phase 1: reading and checking ------------------------------------------------------


@dataclass(frozen=True)
class ScannedFile:
    tags: AudioTags
    digests: Digests

    @property
    def format(self) -> str:
        return self.tags.format

    @property
    def key(self) -> str:
        return storage_key("audio", self.digests.sha256, self.tags.format)


@dataclass(frozen=True)
class ScannedCover:
    path: Path
    source: str
    extension: str
    digests: Digests

    @property
    def key(self) -> str:
        return storage_key("covers", self.digests.sha256, self.extension)


@dataclass
class ScannedTrack:
    number: int
    title: str
    duration_ms: int
    files: dict[str, ScannedFile]


@dataclass
class ScannedAlbum:
    folder: Path
    artist: str
    title: str
    genre: str
    year: int | None
    cover: ScannedCover | None
    tracks: list[ScannedTrack]
    notes: list[str] = field(default_factory=list)

    @property
    def formats(self) -> tuple[str, ...]:
        present = {fmt for track in self.tracks for fmt in track.files}
        return tuple(fmt for fmt in FORMATS if fmt in present)

    @property
    def label(self) -> str:
        return f"{self.artist} \u2014 {self.title}"


def find_album_folders(root: Path) -> list[Path]:
    """The album folders of an import: ``root`` itself when it directly holds audio files,
    else its (non-hidden) subfolders, in name order.

    :raises CatalogImportError: when ``root`` is not a folder or holds nothing to import.
    """
    if not root.is_dir():
        raise CatalogImportError(f"{root}: not a folder")
    if _audio_files(root):
        return [root]
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir() and not _ignored(p)), key=lambda p: p.name
    )
    if not folders:
        raise CatalogImportError(
            f"{root}: empty, no album folders and no audio files (mp3, flac, wav)"
        )
    return folders


def scan_albums(root: Path, workdir: Path, echo: Echo | None = None) -> list[ScannedAlbum]:
    """Read and check every album under ``root`` without writing anything.

    ``workdir`` receives embedded cover art extracted from tags (it must outlive the import).

    :raises CatalogImportError: on the first problem, naming the file or folder.
    """
    folders = find_album_folders(root)
    albums = []
    seen: dict[tuple[str, str], Path] = {}
    for index, folder in enumerate(folders, start=1):
        album = scan_album(folder, workdir)
        other = seen.get((album.artist, album.title))
        if other is not None:
            raise CatalogImportError(
                f"{folder}: same artist and album as {other} ({album.label}); "
                "an album must be in one folder"
            )
        seen[(album.artist, album.title)] = folder
        albums.append(album)
        if echo:
            echo(
                f"  [{index}/{len(folders)}] {album.label}: {len(album.tracks)} tracks "
                f"in {', '.join(album.formats)} (folder {folder.name!r})"
            )
            for note in album.notes:
                echo(f"        note: {note}")
    return albums


def scan_album(folder: Path, workdir: Path) -> ScannedAlbum:
    """Read one album folder: tags, digests, the track list checked across formats."""
    audio_paths = _audio_files(folder)
    if not audio_paths:
        raise CatalogImportError(f"{folder}: empty, no audio files (mp3, flac, wav)")

    scanned: list[ScannedFile] = []
    for path in audio_paths:
        try:
            tags = read_tags(path)
        except UnreadableAudio as exc:
            raise CatalogImportError(str(exc)) from None
        scanned.append(ScannedFile(tags=tags, digests=digest_file(path)))

    notes: list[str] = []
    tracks = _assemble_tracks(folder, scanned, notes)
    artist, title = _album_names(folder, [f.tags for f in scanned], notes)
    genre = _most_common(folder, "genre", [f.tags.genre for f in scanned], notes)
    year = _most_common(folder, "year", [f.tags.year for f in scanned], notes)
    if genre is None:
        notes.append("no genre tag: genre left empty")
    if year is None:
        notes.append("no year tag: year left empty")

    _check_length(folder, "artist", artist, ARTIST_MAX)
    _check_length(folder, "album title", title, ALBUM_MAX)
    _check_length(folder, "genre", genre or "", GENRE_MAX)
    cover = _find_cover(folder, scanned, workdir, notes)
    return ScannedAlbum(
        folder=folder,
        artist=artist,
        title=title,
        genre=genre or "",
        year=year,
        cover=cover,
        tracks=tracks,
        notes=notes,
    )


def _ignored(path: Path) -> bool:
    # Hidden files include macOS "._name.mp3" resource forks, which are not audio.
    return path.name.startswith(".") or path.name == "__MACOSX"


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and not _ignored(p) and p.suffix.lower() in AUDIO_EXTENSIONS
        ),
        key=lambda p: p.name,
    )


def _assemble_tracks(
    folder: Path, files: list[ScannedFile], notes: list[str]
) -> list[ScannedTrack]:
    by_format: dict[str, dict[int, ScannedFile]] = {}
    from_file_name = []
    for file in files:
        number = _track_number(file.tags)
        if file.tags.number is None:
            from_file_name.append(file.tags.path.name)
        numbered = by_format.setdefault(file.format, {})
        if number in numbered:
            raise CatalogImportError(
                f"{file.tags.path}: track number {number} is already used by "
                f"{numbered[number].tags.path.name} ({file.format})"
            )
        numbered[number] = file
    if from_file_name:
        notes.append(
            _files_note("no track number tag", from_file_name, "number taken from the file name")
        )

    track_lists = {fmt: sorted(numbered) for fmt, numbered in by_format.items()}
    if len({tuple(numbers) for numbers in track_lists.values()}) > 1:
        described = "; ".join(
            f"{fmt} has {_numbers(numbers)}" for fmt, numbers in sorted(track_lists.items())
        )
        raise CatalogImportError(f"{folder}: the formats disagree on the track list: {described}")

    numbers = next(iter(track_lists.values()))
    tracks = []
    titled_from_name = []
    for number in numbers:
        versions = {fmt: by_format[fmt][number] for fmt in by_format}
        titles = {fmt: f.tags.title for fmt, f in versions.items() if f.tags.title}
        if len({_fold(t) for t in titles.values()}) > 1:
            described = ", ".join(
                f"{versions[fmt].tags.path.name} says {title!r}"
                for fmt, title in sorted(titles.items())
            )
            raise CatalogImportError(
                f"{folder}: the formats disagree on the title of track {number}: {described}"
            )
        preferred = [versions[fmt] for fmt in DURATION_PREFERENCE if fmt in versions]
        title = next((titles[f.format] for f in preferred if f.format in titles), None)
        if title is None:
            title = _title_from_file_name(preferred[0].tags.path, number)
            titled_from_name.append(preferred[0].tags.path.name)
        _check_length(preferred[0].tags.path, "track title", title, TRACK_TITLE_MAX)
        tracks.append(
            ScannedTrack(
                number=number,
                title=title,
                duration_ms=preferred[0].tags.duration_ms,
                files=versions,
            )
        )
    if titled_from_name:
        notes.append(
            _files_note("no title tag", titled_from_name, "title taken from the file name")
        )
    return tracks


def _track_number(tags: AudioTags) -> int:
    number = tags.number
    if number is None:
        match = _LEADING_NUMBER.match(tags.path.stem)
        if match is None:
            tag = (
                f"a track number tag {tags.raw_number!r} that is not a number"
                if tags.raw_number
                else "no track number tag"
            )
            raise CatalogImportError(
                f"{tags.path}: {tag}, and the file name does not start with a number; "
                "tag it or name it like '01 Title'"
            )
        number = int(match.group(1))
    if number < 1:
        raise CatalogImportError(f"{tags.path}: track number {number}; numbers start at 1")
    return number


def _title_from_file_name(path: Path, number: int) -> str:
    title = clean_text(_NUMBER_PREFIX.sub("", path.stem))
    return title or f"Track {number}"


def _album_names(folder: Path, tags: list[AudioTags], notes: list[str]) -> tuple[str, str]:
    folder_artist, folder_album = _split_folder_name(folder.name)
    artist = _most_common(folder, "artist", [t.album_artist or t.artist for t in tags], notes)
    album = _most_common(folder, "album", [t.album for t in tags], notes)
    if artist is None:
        artist = folder_artist or UNKNOWN_ARTIST
        notes.append(f"no artist tag: artist {artist!r} taken from the folder name")
    if album is None:
        album = folder_album
        notes.append(f"no album tag: album {album!r} taken from the folder name")
    return artist, album


def _split_folder_name(name: str) -> tuple[str | None, str]:
    """``"Artist - Album"`` → ``("Artist", "Album")``; otherwise ``(None, name)``."""
    cleaned = clean_text(name) or name
    parts = _FOLDER_SPLIT.split(cleaned, maxsplit=1)
    if len(parts) == 2 and parts[0].strip() and parts[1].strip():
        return parts[0].strip(), parts[1].strip()
    return None, cleaned


def _most_common(folder: Path, what: str, values: Iterable[T | None], notes: list[str]) -> T | None:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    ranked = counts.most_common()
    if len(ranked) > 1:
        notes.append(
            f"files disagree on the {what} ({', '.join(repr(v) for v, _ in ranked)}): "
            f"used {ranked[0][0]!r}"
        )
    return ranked[0][0]


def _find_cover(
    folder: Path, files: list[ScannedFile], workdir: Path, notes: list[str]
) -> ScannedCover | None:
    by_name = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    for stem in COVER_NAMES:
        for ext in COVER_EXTENSIONS:
            path = by_name.get(stem + ext)
            if path is not None:
                with open(path, "rb") as fh:
                    head = fh.read(16)
                extension = _image_extension(head)
                if extension is None:
                    raise CatalogImportError(f"{path}: not a JPEG or PNG image")
                return ScannedCover(
                    path=path, source=path.name, extension=extension, digests=digest_file(path)
                )

    for file in files:
        picture = file.tags.picture
        extension = _image_extension(picture.data[:16]) if picture else None
        if picture is not None and extension is not None:
            # Named by content so two albums' embedded covers never collide in the workdir.
            path = workdir / f"{hashlib.sha256(picture.data).hexdigest()}.{extension}"
            path.write_bytes(picture.data)
            notes.append(f"no cover file: used the art embedded in {file.tags.path.name}")
            return ScannedCover(
                path=path,
                source=f"embedded in {file.tags.path.name}",
                extension=extension,
                digests=digest_file(path),
            )
    notes.append("no cover image (cover.jpg/png, folder.jpg/png or embedded art)")
    return None


def _image_extension(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    return None


def _check_length(where: Path, what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise CatalogImportError(
            f"{where}: the {what} is longer than {limit} characters: {value[:40]!r}..."
        )


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers) if numbers else "no tracks"


def _files_note(problem: str, names: list[str], fallback: str) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{problem} in {len(names)} file(s) ({shown}): {fallback}"


# -- phase 2: writing -------------------------------------------------------------------


@dataclass
class AlbumResult:
    artist: str
    title: str
    status: str = "unchanged"  # "added", "extended" or "unchanged"
    tracks_added: int = 0
    tracks_unchanged: int = 0
    files_added: int = 0
    files_unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.artist} \u2014 {self.title}"


@dataclass
class ImportReport:
    slug: str
    pack_created: bool = False
    albums: list[AlbumResult] = field(default_factory=list)
    blobs_written: int = 0
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for a in self.albums if a.status == status)

    @property
    def tracks_added(self) -> int:
        return sum(a.tracks_added for a in self.albums)

    @property
    def tracks_unchanged(self) -> int:
        return sum(a.tracks_unchanged for a in self.albums)

    @property
    def files_added(self) -> int:
        return sum(a.files_added for a in self.albums)

    @property
    def files_unchanged(self) -> int:
        return sum(a.files_unchanged for a in self.albums)

    @property
    def changed(self) -> bool:
        return (
            self.pack_created
            or self.blobs_written > 0
            or any(a.status != "unchanged" for a in self.albums)
        )

    def summary(self) -> str:
        if not self.changed:
            return (
                f"Nothing changed: pack {self.slug!r} already holds all "
                f"{len(self.albums)} album(s), "
                f"{self.tracks_unchanged} tracks and {self.files_unchanged} files."
            )
        return (
            f"Pack {self.slug!r} {'created' if self.pack_created else 'updated'}: "
            f"albums {self.count('added')} added, {self.count('extended')} extended, "
            f"{self.count('unchanged')} unchanged; "
            f"tracks {self.tracks_added} added, {self.tracks_unchanged} unchanged; "
            f"files {self.files_added} added, {self.files_unchanged} unchanged; "
            f"{self.blobs_written} blob(s) copied into storage."
        )


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
            report = _write(settings, albums, storage)
            db.session.commit()
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


def _write(settings: PackSettings, albums: list[ScannedAlbum], storage: Storage) -> ImportReport:
    report = ImportReport(slug=settings.slug)
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
            album = Album(position=next_position, artist=scanned.artist, title=scanned.title)
            next_position += 1
            pack.albums.append(album)
            result = _fill_new_album(album, scanned)
        else:
            result = _merge_album(album, scanned)
        result.notes.extend(scanned.notes)
        report.albums.append(result)
        if scanned.cover is not None and album.cover_key == scanned.cover.key:
            blobs[scanned.cover.key] = scanned.cover.path
        for track in scanned.tracks:
            for file in track.files.values():
                blobs[file.key] = file.tags.path

    # Constraint violations surface here, before any blob is written.
    db.session.flush()
    for key, path in blobs.items():
        # Content-addressed: a present key already holds these bytes. A missing one (an
        # emptied media folder, say) is restored, which is why unchanged rows are checked too.
        if not storage.exists(key):
            storage.put_file(key, path)
            report.blobs_written += 1
    return report


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
        differing.append(f"minimum price (it stays {pack.min_price_cents / 100:.2f})")
    if (
        settings.suggested_price_cents is not None
        and settings.suggested_price_cents != pack.suggested_price_cents
    ):
        differing.append(f"suggested price (it stays {pack.suggested_price_cents / 100:.2f})")
    if settings.currency is not None and settings.currency != pack.currency:
        differing.append(f"currency (it stays {pack.currency})")
    if not differing:
        return []
    return [
        f"pack {pack.slug!r} already exists, so these settings were not applied: "
        + ", ".join(differing)
    ]


def _fill_new_album(album: Album, scanned: ScannedAlbum) -> AlbumResult:
    album.genre = scanned.genre
    album.year = scanned.year
    _set_cover(album, scanned)
    result = AlbumResult(artist=scanned.artist, title=scanned.title, status="added")
    for track in scanned.tracks:
        row = Track(number=track.number, title=track.title, duration_ms=track.duration_ms)
        album.tracks.append(row)
        result.tracks_added += 1
        for file in track.files.values():
            row.files.append(_file_row(file))
            result.files_added += 1
    return result


def _merge_album(album: Album, scanned: ScannedAlbum) -> AlbumResult:
    """Attach what the catalog lacks (new tracks, new formats, a first cover); refuse any
    change to what is already there, since buyers may already hold those files."""
    result = AlbumResult(artist=scanned.artist, title=scanned.title)
    conflicts = []
    if album.genre != scanned.genre:
        conflicts.append(
            f"genre is {album.genre!r} in the catalog, {scanned.genre!r} in the folder"
        )
    if album.year != scanned.year:
        conflicts.append(f"year is {album.year} in the catalog, {scanned.year} in the folder")
    if scanned.cover is not None:
        if album.cover_sha256 is None:
            _set_cover(album, scanned)
            result.status = "extended"
        elif album.cover_sha256 != scanned.cover.digests.sha256:
            conflicts.append(
                f"the cover ({scanned.cover.source}) differs from the one in the catalog"
            )

    existing = {t.number: t for t in album.tracks}
    for track in scanned.tracks:
        row = existing.get(track.number)
        if row is None:
            row = Track(number=track.number, title=track.title, duration_ms=track.duration_ms)
            album.tracks.append(row)
            result.tracks_added += 1
        else:
            if row.title != track.title:
                conflicts.append(
                    f"track {track.number} is {row.title!r} in the catalog, "
                    f"{track.title!r} in the folder"
                )
            result.tracks_unchanged += 1
        for fmt, file in track.files.items():
            current = row.file(fmt)
            if current is None:
                row.files.append(_file_row(file))
                result.files_added += 1
            elif current.sha256 != file.digests.sha256:
                conflicts.append(
                    f"{file.tags.path.name} differs from the {fmt} file already imported "
                    f"for track {track.number}"
                )
            else:
                result.files_unchanged += 1

    format_sets = {tuple(sorted(f.format for f in t.files)) for t in album.tracks}
    if len(format_sets) > 1:
        conflicts.append(
            "the album would mix tracks with different formats ("
            + "; ".join(
                f"track {t.number}: {', '.join(sorted(f.format for f in t.files))}"
                for t in album.tracks
            )
            + ")"
        )
    if conflicts:
        raise CatalogImportError(
            f"{scanned.folder}: {scanned.label} is already in the pack "
            "with different content:\n  - "
            + "\n  - ".join(conflicts)
        )
    if result.tracks_added or result.files_added:
        result.status = "extended"
    return result


def _set_cover(album: Album, scanned: ScannedAlbum) -> None:
    if scanned.cover is None:
        return
    album.cover_key = scanned.cover.key
    album.cover_size = scanned.cover.digests.size
    album.cover_crc32 = scanned.cover.digests.crc32
    album.cover_sha256 = scanned.cover.digests.sha256


def _file_row(file: ScannedFile) -> TrackFile:
    d = file.digests
    return TrackFile(
        format=file.format,
        storage_key=file.key,
        size=d.size,
        crc32=d.crc32,
        sha256=d.sha256,
        dropbox_content_hash=d.dropbox_content_hash,
    )
