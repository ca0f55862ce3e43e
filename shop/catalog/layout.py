"""How an album is laid out as files: one naming rule for zips and Dropbox alike.

An album in one format is a folder ``Artist - Album (LABEL)`` holding ``NN Title.ext``,
track numbers zero-padded to the widest number (at least two digits). Label and extension
come from the format table (:mod:`shop.formats`): ``(MP3 V0)`` with ``.mp3``, ``(ALAC)``
with ``.m4a``. Two formats share an extension (MP3 V0 and MP3 320, AAC and ALAC), but a
folder or zip holds one format, so names never collide. The zip
downloads and the Dropbox deliveries both name files through here, so a buyer who gets
an album both ways finds the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from shop.filenames import UniqueNames, safe_component
from shop.formats import get_format
from shop.models import Album, Track, TrackFile


@dataclass(frozen=True)
class TrackEntry:
    track: Track
    file: TrackFile
    name: str  # safe, unique within the album folder


def file_extension(fmt: str) -> str:
    """``.mp3`` for ``mp3-v0``: the extension of the format's files, with the dot."""
    return f".{get_format(fmt).extension}"


def format_label(fmt: str) -> str:
    """``MP3 V0`` for ``mp3-v0``: the name buyers see on folders, zips and buttons."""
    return get_format(fmt).label


def album_folder_name(album: Album, fmt: str) -> str:
    """The raw (unsanitised) folder name of an album in one format."""
    return f"{album.artist} - {album.title} ({format_label(fmt)})"


def safe_album_folder(album: Album, fmt: str) -> str:
    return safe_component(album_folder_name(album, fmt))


def track_entries(album: Album, fmt: str, names: UniqueNames | None = None) -> list[TrackEntry]:
    """The album's tracks that exist in ``fmt``, in track order, with their file names.

    :param names: the folder's name registry, when the caller puts other files beside the
        tracks (a zip's checksum list and cover); names are claimed in track order.
    """
    names = names if names is not None else UniqueNames()
    tracks = [(t, t.file(fmt)) for t in sorted(album.tracks, key=lambda t: t.number)]
    present = [(t, f) for t, f in tracks if f is not None]
    if not present:
        return []
    width = max(2, len(str(max(t.number for t, _ in present))))
    return [
        TrackEntry(track, file, names.claim(f"{track.number:0{width}d} {track.title}", file_extension(fmt)))
        for track, file in present
    ]
