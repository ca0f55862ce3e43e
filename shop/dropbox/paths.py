"""Where album files live in Dropbox: the store's seeded copies and the buyer's folders.

The buyer gets ``/<Artist> - <Album> (<FMT>)/NN Title.ext`` in their app folder (names
from :mod:`shop.catalog.layout`, as in the zips). The store keeps each album-and-format
folder under a stable path of its own whose file names are exactly the buyer's, so saving
the folder's copy reference gives the buyer the same files as saving each file's
reference one by one.
"""

from __future__ import annotations

from shop.catalog.layout import safe_album_folder
from shop.filenames import safe_component
from shop.models import Album


def buyer_folder(album: Album, fmt: str) -> str:
    return "/" + safe_album_folder(album, fmt)


def store_folder(album: Album, fmt: str) -> str:
    pack = safe_component(album.pack.slug)
    return f"/Store/{pack}/{album.id} {safe_component(album.artist + ' - ' + album.title)}/{fmt.upper()}"
