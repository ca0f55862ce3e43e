"""Where album files live in Dropbox: the store's seeded copies and the buyer's folders.

The buyer gets ``/<Artist> - <Album> (<FMT>)/NN Title.ext`` in their app folder. The
store keeps each album-and-format folder under a stable path of its own whose file names
are exactly the buyer's, so saving the folder's copy reference gives the buyer the same
files as saving each file's reference one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

from shop.models import Album, TrackFile
from shop.naming import UniqueNames, safe_component


@dataclass(frozen=True)
class PlannedFile:
    track_file: TrackFile
    name: str


def buyer_folder(album: Album, fmt: str) -> str:
    return "/" + safe_component(f"{album.artist} - {album.title} ({fmt.upper()})")


def store_folder(album: Album, fmt: str) -> str:
    pack = safe_component(album.pack.slug)
    return f"/Store/{pack}/{album.id} {safe_component(album.artist + ' - ' + album.title)}/{fmt.upper()}"


def album_files(album: Album, fmt: str) -> list[PlannedFile]:
    """The album's tracks in ``fmt`` with their file names, in track order."""
    tracks = sorted(album.tracks, key=lambda t: t.number)
    width = max(2, len(str(max((t.number for t in tracks), default=1))))
    names = UniqueNames()
    planned = []
    for track in tracks:
        file = track.file(fmt)
        if file is not None:
            planned.append(PlannedFile(file, names.claim(f"{track.number:0{width}d} {track.title}", f".{fmt}")))
    return planned
