"""Reading audio tags with mutagen: ID3 for MP3, WAV and AIFF, Vorbis comments for FLAC.

Only reads. Every field a file does not carry is ``None`` so the importer can fall back
(folder name, file name) and tell the operator what was missing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mutagen import MutagenError
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.mp3 import MP3
from mutagen.wave import WAVE

#: File extensions the importer reads, and the format each one is stored as.
AUDIO_EXTENSIONS: dict[str, str] = {
    ".mp3": "mp3", ".flac": "flac", ".wav": "wav", ".aif": "aiff", ".aiff": "aiff",
}

# At most 30 digits: enough to report an absurd number, short of int()'s digit limit.
_NUMBER = re.compile(r"^\s*(\d{1,30})\s*(?:/\s*\d*\s*)?$")
_YEAR = re.compile(r"^\s*(\d{4})")

# ID3 picture type 3 and FLAC picture type 3 are both "Cover (front)".
FRONT_COVER = 3


class UnreadableAudio(Exception):
    """mutagen could not parse the file as the format its extension names."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: unreadable audio ({reason})")
        self.path = path


@dataclass(frozen=True)
class EmbeddedPicture:
    data: bytes
    mime: str


@dataclass(frozen=True)
class AudioTags:
    """What one audio file says about itself; ``None`` where a tag is absent or unusable."""

    path: Path
    format: str
    duration_ms: int
    artist: str | None = None
    album_artist: str | None = None
    album: str | None = None
    title: str | None = None
    number: int | None = None
    raw_number: str | None = None
    genre: str | None = None
    year: int | None = None
    picture: EmbeddedPicture | None = None


#: The text fields of :class:`AudioTags`, and what an operator calls each.
TEXT_TAGS = {"artist": "artist", "album_artist": "album artist", "album": "album", "title": "title",
             "raw_number": "track number", "genre": "genre"}


def clean_text(value: object) -> str | None:
    """NFC-normalised, stripped text, or ``None`` when empty.

    NFC because macOS file names (and some taggers) use decomposed accents; the same
    artist must compare equal however it was typed.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).replace("\x00", "").strip()
    return text or None


def parse_track_number(value: str | None) -> int | None:
    """``"3"``, ``"03"``, ``"3/12"`` → ``3``; anything else → ``None``."""
    if value is None:
        return None
    match = _NUMBER.match(value)
    return int(match.group(1)) if match else None


def parse_year(value: str | None) -> int | None:
    """The year of ``"2024"``, ``"2024-05-01"`` or ``"2024-05-01T10:00"``; else ``None``."""
    if value is None:
        return None
    match = _YEAR.match(value)
    if not match:
        return None
    year = int(match.group(1))
    return year if year >= 1000 else None


def read_tags(path: Path) -> AudioTags:
    """Read the tags and duration of one MP3, FLAC, WAV or AIFF file.

    :raises UnreadableAudio: when the file is not valid audio of its extension's format,
        or has no duration.
    :raises ValueError: for an extension this module does not read.
    """
    fmt = AUDIO_EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: not an mp3, flac, wav or aiff file")
    reader = _READERS[fmt]
    try:
        tags = reader(path)
    except (MutagenError, OSError, EOFError, ValueError) as exc:
        raise UnreadableAudio(path, str(exc) or type(exc).__name__) from exc
    if tags.duration_ms <= 0:
        raise UnreadableAudio(path, "no audio frames (zero duration)")
    return tags


def _duration_ms(length: float | None) -> int:
    return int(round((length or 0.0) * 1000))


def _read_mp3(path: Path) -> AudioTags:
    audio = MP3(path)
    return _from_id3(path, "mp3", audio.tags, _duration_ms(audio.info.length))


def _read_wav(path: Path) -> AudioTags:
    audio = WAVE(path)
    return _from_id3(path, "wav", audio.tags, _duration_ms(audio.info.length))


def _read_aiff(path: Path) -> AudioTags:
    audio = AIFF(path)
    return _from_id3(path, "aiff", audio.tags, _duration_ms(audio.info.length))


def _from_id3(path: Path, fmt: str, tags: ID3 | None, duration_ms: int) -> AudioTags:
    if tags is None:
        return AudioTags(path=path, format=fmt, duration_ms=duration_ms)

    def text(frame_id: str) -> str | None:
        frame = tags.get(frame_id)
        if frame is None or not getattr(frame, "text", None):
            return None
        return clean_text(frame.text[0])

    genre = None
    tcon = tags.get("TCON")
    if tcon is not None and tcon.genres:
        # ``genres`` turns ID3v1-style "(17)" references into names.
        genre = clean_text(tcon.genres[0])

    year = None
    tdrc = tags.get("TDRC") or tags.get("TYER")
    if tdrc is not None and tdrc.text:
        year = parse_year(str(tdrc.text[0]))

    raw_number = text("TRCK")
    return AudioTags(
        path=path,
        format=fmt,
        duration_ms=duration_ms,
        artist=text("TPE1"),
        album_artist=text("TPE2"),
        album=text("TALB"),
        title=text("TIT2"),
        number=parse_track_number(raw_number),
        raw_number=raw_number,
        genre=genre,
        year=year,
        picture=_id3_picture(tags),
    )


def _id3_picture(tags: ID3) -> EmbeddedPicture | None:
    pictures = tags.getall("APIC")
    if not pictures:
        return None
    best = next((p for p in pictures if p.type == FRONT_COVER), pictures[0])
    return EmbeddedPicture(data=bytes(best.data), mime=best.mime or "")


def _read_flac(path: Path) -> AudioTags:
    audio = FLAC(path)
    duration_ms = _duration_ms(audio.info.length)
    comments = audio.tags

    def text(key: str) -> str | None:
        if comments is None:
            return None
        values = comments.get(key)
        return clean_text(values[0]) if values else None

    picture = None
    if audio.pictures:
        best = next((p for p in audio.pictures if p.type == FRONT_COVER), audio.pictures[0])
        picture = EmbeddedPicture(data=bytes(best.data), mime=best.mime or "")

    raw_number = text("tracknumber")
    return AudioTags(
        path=path,
        format="flac",
        duration_ms=duration_ms,
        artist=text("artist"),
        album_artist=text("albumartist") or text("album artist"),
        album=text("album"),
        title=text("title"),
        number=parse_track_number(raw_number),
        raw_number=raw_number,
        genre=text("genre"),
        year=parse_year(text("date") or text("year")),
        picture=picture,
    )


_READERS: dict[str, Callable[[Path], AudioTags]] = {
    "mp3": _read_mp3,
    "flac": _read_flac,
    "wav": _read_wav,
    "aiff": _read_aiff,
}
