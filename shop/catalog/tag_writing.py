"""Writing tags and covers into encoded buyer files, in the tag system players of each format read.

mutagen writes after the encoder: ID3v2.4 in MP3, ID3v2.3 in the WAV/AIFF chunk (the only
version Windows Explorer and older iTunes read there), MP4 atoms in AAC/ALAC, Vorbis
comments and a picture block in FLAC and Opus. :func:`write_tags` replaces whatever the
muxer left. The padding is a constant, so the same tags always give the same bytes.
Reading tags is :mod:`shop.catalog.tags`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from mutagen.aiff import AIFF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TRCK
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from shop.catalog.tags import FRONT_COVER, AudioTags

# A constant, so the same tags always give the same bytes, and large enough that a later
# retag (a corrected title) usually fits without rewriting the whole file.
TAG_PADDING = 2048


@dataclass(frozen=True)
class TrackTags:
    """The tags every encoded file carries. ``number``/``total`` are the track's position."""

    title: str
    artist: str
    album: str
    album_artist: str | None = None
    number: int | None = None
    total: int | None = None
    year: int | None = None
    genre: str | None = None

    @classmethod
    def from_audio_tags(cls, tags: AudioTags, total: int | None = None) -> TrackTags:
        """Tags read from a file by :func:`shop.catalog.tags.read_tags`, with fallbacks.

        Missing title, artist or album become the file name, ``"Unknown Artist"`` and
        ``"Unknown Album"``; the importer usually knows better and builds ``TrackTags``
        itself.
        """
        return cls(
            title=tags.title or tags.path.stem,
            artist=tags.artist or tags.album_artist or "Unknown Artist",
            album=tags.album or "Unknown Album",
            album_artist=tags.album_artist,
            number=tags.number,
            total=total,
            year=tags.year,
            genre=tags.genre,
        )


def image_mime(data: bytes) -> str:
    """The MIME type of cover bytes. :raises ValueError: when they are neither PNG nor JPEG."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    raise ValueError("cover must be PNG or JPEG")


def _padding(_info: object) -> int:
    return TAG_PADDING


def _id3_frames(tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> ID3:
    frames = ID3()
    frames.add(TIT2(encoding=3, text=tags.title))
    frames.add(TPE1(encoding=3, text=tags.artist))
    frames.add(TALB(encoding=3, text=tags.album))
    if tags.album_artist:
        frames.add(TPE2(encoding=3, text=tags.album_artist))
    if tags.number:
        frames.add(TRCK(encoding=3, text=f"{tags.number}/{tags.total}" if tags.total else str(tags.number)))
    if tags.year:
        frames.add(TDRC(encoding=3, text=str(tags.year)))
    if tags.genre:
        frames.add(TCON(encoding=3, text=tags.genre))
    if cover is not None and cover_mime is not None:
        frames.add(APIC(encoding=3, mime=cover_mime, type=FRONT_COVER, desc="", data=cover))
    return frames


def _tag_mp3(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    _id3_frames(tags, cover, cover_mime).save(path, v1=0, v2_version=4, padding=_padding)


def _tag_riff(audio: WAVE | AIFF, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    # The "id3 " (WAV) / "ID3 " (AIFF) chunk. ID3v2.3 rather than 2.4 here: Windows
    # Explorer and older iTunes read only 2.3 in these files.
    audio.add_tags()
    assert audio.tags is not None
    for frame in _id3_frames(tags, cover, cover_mime).values():
        audio.tags.add(frame)
    audio.save(v2_version=3, padding=_padding)


def _tag_wav(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    _tag_riff(WAVE(path), tags, cover, cover_mime)


def _tag_aiff(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    _tag_riff(AIFF(path), tags, cover, cover_mime)


def _tag_mp4(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    # Whatever the muxer wrote (an encoder "©too" atom without bitexact) goes.
    audio.tags.clear()
    audio.tags["\xa9nam"] = [tags.title]
    audio.tags["\xa9ART"] = [tags.artist]
    audio.tags["\xa9alb"] = [tags.album]
    if tags.album_artist:
        audio.tags["aART"] = [tags.album_artist]
    if tags.number:
        audio.tags["trkn"] = [(tags.number, tags.total or 0)]
    if tags.year:
        audio.tags["\xa9day"] = [str(tags.year)]
    if tags.genre:
        audio.tags["\xa9gen"] = [tags.genre]
    if cover is not None:
        image_format = MP4Cover.FORMAT_PNG if cover_mime == "image/png" else MP4Cover.FORMAT_JPEG
        audio.tags["covr"] = [MP4Cover(cover, imageformat=image_format)]
    audio.save(padding=_padding)


def _vorbis_comments(tags: TrackTags) -> dict[str, str]:
    comments = {"TITLE": tags.title, "ARTIST": tags.artist, "ALBUM": tags.album}
    if tags.album_artist:
        comments["ALBUMARTIST"] = tags.album_artist
    if tags.number:
        comments["TRACKNUMBER"] = str(tags.number)
    if tags.total:
        comments["TRACKTOTAL"] = str(tags.total)
    if tags.year:
        comments["DATE"] = str(tags.year)
    if tags.genre:
        comments["GENRE"] = tags.genre
    return comments


def _flac_picture(cover: bytes, cover_mime: str) -> Picture:
    picture = Picture()
    picture.type = FRONT_COVER
    picture.mime = cover_mime
    picture.desc = ""
    picture.data = cover
    return picture


def _tag_flac(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    audio = FLAC(path)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    audio.tags.clear()
    for key, value in _vorbis_comments(tags).items():
        audio.tags[key] = [value]
    audio.clear_pictures()
    if cover is not None and cover_mime is not None:
        audio.add_picture(_flac_picture(cover, cover_mime))
    audio.save(padding=_padding)


def _tag_opus(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    audio = OggOpus(path)
    assert audio.tags is not None
    audio.tags.clear()
    for key, value in _vorbis_comments(tags).items():
        audio.tags[key] = [value]
    if cover is not None and cover_mime is not None:
        block = _flac_picture(cover, cover_mime).write()
        audio.tags["METADATA_BLOCK_PICTURE"] = [base64.b64encode(block).decode("ascii")]
    audio.save(padding=_padding)


_TAG_WRITERS = {
    "mp3-v0": _tag_mp3,
    "mp3-320": _tag_mp3,
    "aac": _tag_mp4,
    "opus": _tag_opus,
    "flac": _tag_flac,
    "alac": _tag_mp4,
    "wav": _tag_wav,
    "aiff": _tag_aiff,
}




def write_tags(format_id: str, path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    """Tag the encoded file of buyer format ``format_id`` at ``path``, with its front cover.

    :param cover_mime: what :func:`image_mime` says ``cover`` is (checked before encoding).
    """
    _TAG_WRITERS[format_id](path, tags, cover, cover_mime)
