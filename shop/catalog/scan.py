"""Phase 1 of an import: read and check album folders of masters, writing nothing.

Each album folder holds one lossless master per track (FLAC, WAV or AIFF; 16 or 24 bit;
44.1 to 96 kHz) and a cover. Every master is read once for its tags (mutagen), once for
its digests, and probed (:func:`shop.catalog.masters.probe_master`), which
decodes it fully: a lossy, unsupported or corrupt file is refused here, naming the file,
before anything is written. A folder holding a track in several files (the MP3 and the
FLAC of the time before masters) keeps the lossless one, with a note; a track that is only
lossy is refused.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from shop.catalog.covers import CoverError, ScannedCover, find_cover
from shop.catalog.hashing import Digests, digest_file, storage_key
from shop.catalog.masters import MASTER_CONTAINERS, MasterError, MasterInfo, probe_master
from shop.catalog.tags import AUDIO_EXTENSIONS, TEXT_TAGS, AudioTags, UnreadableAudio, clean_text, read_tags
from shop.text_safety import refusal

T = TypeVar("T")

#: Masters, in the order one is preferred when a track comes in several.
MASTER_PREFERENCE = ("flac", "wav", "aiff")
#: Lossy files an operator may leave in a folder: noticed, so a track that is only lossy
#: is refused by name instead of silently missing.
LOSSY_EXTENSIONS = (".m4a", ".aac", ".ogg", ".oga", ".opus", ".wma")
ARTIST_MAX, ALBUM_MAX, TRACK_TITLE_MAX, GENRE_MAX = 200, 200, 300, 80
#: The highest track number: what a file name's leading number can say, and far inside the column's range.
TRACK_NUMBER_MAX = 9999
UNKNOWN_ARTIST = "Unknown Artist"

_LEADING_NUMBER = re.compile(r"^\s*(\d{1,4})(?!\d)")
_NUMBER_PREFIX = re.compile(r"^\s*\d{1,4}(?!\d)\s*(?:[-._)\]:]+\s*)?")
_FOLDER_SPLIT = re.compile(r"\s+[-\u2013\u2014]\s+")

Echo = Callable[[str], None]


class CatalogImportError(Exception):
    """The import was refused; the message names the file or folder and what is wrong.

    Nothing was written to the database.
    """


@dataclass(frozen=True)
class ScannedMaster:
    tags: AudioTags
    digests: Digests
    info: MasterInfo

    @property
    def path(self) -> Path:
        return self.tags.path

    @property
    def key(self) -> str:
        return storage_key("masters", self.digests.sha256, self.info.container)

    @property
    def description(self) -> str:
        """``FLAC 24-bit 96 kHz stereo``."""
        channels = {1: "mono", 2: "stereo"}.get(self.info.channels, f"{self.info.channels} channels")
        return (f"{MASTER_CONTAINERS[self.info.container]} {self.info.bit_depth}-bit "
                f"{self.info.sample_rate / 1000:g} kHz {channels}")


@dataclass
class ScannedTrack:
    number: int
    title: str
    duration_ms: int
    master: ScannedMaster


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
    def label(self) -> str:
        return f"{self.artist} \u2014 {self.title}"

    @property
    def masters(self) -> str:
        """What the masters are, e.g. ``FLAC 16-bit 44.1 kHz stereo`` (or several, counted)."""
        counts = Counter(t.master.description for t in self.tracks)
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{n} \u00d7 {what}" for what, n in counts.most_common())


def find_album_folders(root: Path) -> list[Path]:
    """The album folders of an import: ``root`` itself when it directly holds audio files,
    else its (non-hidden) subfolders, in name order.

    :raises CatalogImportError: when ``root`` is not a folder or holds nothing to import.
    """
    if not root.is_dir():
        raise CatalogImportError(f"{root}: not a folder")
    if _audio_files(root):
        return [root]
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not _ignored(p)), key=lambda p: p.name)
    if not folders:
        raise CatalogImportError(f"{root}: empty, no album folders and no audio files (flac, wav, aiff)")
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
                f"{folder}: same artist and album as {other} ({album.label}); an album must be in one folder"
            )
        seen[(album.artist, album.title)] = folder
        albums.append(album)
        if echo:
            echo(f"  [{index}/{len(folders)}] {album.label}: {len(album.tracks)} tracks, "
                 f"masters {album.masters} (folder {folder.name!r})")
            for note in album.notes:
                echo(f"        note: {note}")
    return albums


def scan_album(folder: Path, workdir: Path) -> ScannedAlbum:
    """Read one album folder: one master per track, checked and probed."""
    audio_paths = _audio_files(folder)
    if not audio_paths:
        raise CatalogImportError(f"{folder}: empty, no audio files (flac, wav, aiff)")

    files = [_read(path) for path in audio_paths]
    notes: list[str] = []
    tracks = _assemble_tracks(folder, files, notes)
    tags = [t.master.tags for t in tracks]
    artist, title = _album_names(folder, tags, notes)
    genre = _most_common("genre", [t.genre for t in tags], notes)
    year = _most_common("year", [t.year for t in tags], notes)
    if genre is None:
        notes.append("no genre tag: genre left empty")
    if year is None:
        notes.append("no year tag: year left empty")

    _check_length(folder, "artist", artist, ARTIST_MAX)
    _check_length(folder, "album title", title, ALBUM_MAX)
    _check_length(folder, "genre", genre or "", GENRE_MAX)
    # Tags were checked as read; these may come from the folder's name.
    _check_text(folder, "artist", artist)
    _check_text(folder, "album title", title)
    try:
        cover = find_cover(folder, tags, workdir, notes)
    except CoverError as exc:
        raise CatalogImportError(str(exc)) from None
    return ScannedAlbum(folder=folder, artist=artist, title=title, genre=genre or "", year=year, cover=cover,
                        tracks=tracks, notes=notes)


def _ignored(path: Path) -> bool:
    # Hidden files include macOS "._name.flac" resource forks, which are not audio.
    return path.name.startswith(".") or path.name == "__MACOSX"


def _audio_files(folder: Path) -> list[Path]:
    suffixes = (*AUDIO_EXTENSIONS, *LOSSY_EXTENSIONS)
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and not _ignored(p) and p.suffix.lower() in suffixes),
        key=lambda p: p.name,
    )


def _read(path: Path) -> AudioTags:
    """The tags of one audio file; a lossy kind mutagen is not asked about gets none."""
    kind = AUDIO_EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        return AudioTags(path=path, format=path.suffix.lower().lstrip("."), duration_ms=0)
    try:
        tags = read_tags(path)
    except UnreadableAudio as exc:
        raise CatalogImportError(str(exc)) from None
    # Refused, not stripped: the tag is wrong in the operator's files too, and a silently
    # changed title would differ from what their other copies say.
    for field_name, label in TEXT_TAGS.items():
        problem = refusal(f"{label} tag", getattr(tags, field_name) or "")
        if problem:
            raise CatalogImportError(f"{path}: {problem}; correct the tag and import again")
    return tags


def _master_rank(tags: AudioTags) -> int:
    return MASTER_PREFERENCE.index(tags.format) if tags.format in MASTER_PREFERENCE else len(MASTER_PREFERENCE)


def _assemble_tracks(folder: Path, files: list[AudioTags], notes: list[str]) -> list[ScannedTrack]:
    by_number: dict[int, list[AudioTags]] = {}
    from_file_name = []
    for tags in files:
        number = _track_number(tags)
        if tags.number is None:
            from_file_name.append(tags.path.name)
        by_number.setdefault(number, []).append(tags)
    if from_file_name:
        notes.append(_files_note("no track number tag", from_file_name, "number taken from the file name"))

    tracks = []
    titled_from_name = []
    set_aside = []
    for number in sorted(by_number):
        candidates = sorted(by_number[number], key=lambda t: (_master_rank(t), t.path.name))
        chosen = candidates[0]
        if _master_rank(chosen) == len(MASTER_PREFERENCE):
            # Only lossy files for this track: the encoder names the file and why.
            _probe(chosen.path)
            raise CatalogImportError(f"{chosen.path}: not a lossless master (FLAC, WAV or AIFF)")  # pragma: no cover
        twin = next((t for t in candidates[1:] if t.format == chosen.format), None)
        if twin is not None:
            raise CatalogImportError(
                f"{twin.path}: track number {number} is already used by {chosen.path.name} ({chosen.format})"
            )
        titles = {t.path.name: t.title for t in candidates if t.title}
        if len({_fold(t) for t in titles.values()}) > 1:
            described = ", ".join(f"{name} says {title!r}" for name, title in sorted(titles.items()))
            raise CatalogImportError(f"{folder}: the files disagree on the title of track {number}: {described}")
        set_aside += [t.path.name for t in candidates[1:]]
        title = chosen.title or next(iter(titles.values()), None)
        if title is None:
            title = _title_from_file_name(chosen.path, number)
            titled_from_name.append(chosen.path.name)
        _check_length(chosen.path, "track title", title, TRACK_TITLE_MAX)
        _check_text(chosen.path, "track title", title)
        info = _probe(chosen.path)
        master = ScannedMaster(tags=chosen, digests=digest_file(chosen.path), info=info)
        tracks.append(ScannedTrack(number=number, title=title, duration_ms=info.duration_ms, master=master))
    if titled_from_name:
        notes.append(_files_note("no title tag", titled_from_name, "title taken from the file name"))
    if set_aside:
        notes.append(_files_note("one master per track", set_aside,
                                 "set aside for the lossless master of the same track"))
    return tracks


def _probe(path: Path) -> MasterInfo:
    try:
        return probe_master(path)
    except MasterError as exc:
        raise CatalogImportError(str(exc)) from None


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
                f"{tags.path}: {tag}, and the file name does not start with a number; tag it or name it like '01 Title'"
            )
        number = int(match.group(1))
    if number < 1:
        raise CatalogImportError(f"{tags.path}: track number {number}; numbers start at 1")
    if number > TRACK_NUMBER_MAX:
        raise CatalogImportError(
            f"{tags.path}: the track number tag says {number}; track numbers go from 1 to {TRACK_NUMBER_MAX}"
        )
    return number


def _title_from_file_name(path: Path, number: int) -> str:
    title = clean_text(_NUMBER_PREFIX.sub("", path.stem))
    return title or f"Track {number}"


def _album_names(folder: Path, tags: list[AudioTags], notes: list[str]) -> tuple[str, str]:
    folder_artist, folder_album = _split_folder_name(folder.name)
    artist = _most_common("artist", [t.album_artist or t.artist for t in tags], notes)
    album = _most_common("album", [t.album for t in tags], notes)
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


def _most_common(what: str, values: Iterable[T | None], notes: list[str]) -> T | None:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    ranked = counts.most_common()
    if len(ranked) > 1:
        notes.append(f"files disagree on the {what} ({', '.join(repr(v) for v, _ in ranked)}): used {ranked[0][0]!r}")
    return ranked[0][0]


def _check_length(where: Path, what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise CatalogImportError(f"{where}: the {what} is longer than {limit} characters: {value[:40]!r}...")


def _check_text(where: Path, what: str, value: str) -> None:
    problem = refusal(what, value)
    if problem:
        raise CatalogImportError(f"{where}: {problem} (taken from the name); rename it and import again")


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _files_note(problem: str, names: list[str], fallback: str) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{problem} in {len(names)} file(s) ({shown}): {fallback}"
