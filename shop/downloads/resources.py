"""What an order may download, described completely before the first byte is sent.

Every lookup goes through the order (found by its secret token) and stays inside the
order's pack; storage keys come from catalog rows only. Anything that does not resolve
-- unknown or unpaid order, an item of another pack, a format the store does not sell
-- is ``None``, and the view turns every ``None`` into the same 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shop.catalog.layout import album_folder_name, file_extension, format_label, safe_album_folder, track_entries
from shop.downloads.streaming import ByteSource
from shop.downloads.ziplayout import Member, build_layout
from shop.extensions import db
from shop.filenames import UniqueNames, safe_component
from shop.formats import FORMATS_BY_ID, stream_format
from shop.models import FORMATS, Album, Order, Pack, Track
from shop.order_links import find_paid_order

ZIP_MIMETYPE = "application/zip"
CHECKSUM_FILE = "SHA256SUMS"


@dataclass(frozen=True)
class Download:
    """One downloadable resource of one order: its bytes, names and validators.

    Holds plain values only (no ORM objects), so it stays valid while the response
    streams after the request's database session is gone.
    """

    order_id: int
    kind: str  # "track", "album", "pack", or "stream" (a track for the player)
    item_id: int | None  # track or album id; None for the pack
    fmt: str
    filename: str
    mimetype: str
    source: ByteSource
    etag: str
    last_modified: datetime
    storage_key: str | None = None  # set when the resource is exactly one stored blob

    @property
    def size(self) -> int:
        return self.source.size


def find_download(token: str, kind: str, item_id: int | None, fmt: str) -> Download | None:
    """The download ``token``'s order may have, or ``None``.

    :param kind: ``track``, ``album`` or ``pack`` (``item_id`` is then ignored).
    """
    if fmt not in FORMATS:
        return None
    order = find_paid_order(token)
    if order is None:
        return None
    if kind == "track" and item_id is not None:
        return track_download(order, item_id, fmt)
    if kind == "album" and item_id is not None:
        return album_download(order, item_id, fmt)
    if kind == "pack":
        return pack_download(order, fmt)
    return None


def find_stream(token: str, track_id: int) -> Download | None:
    """What the order page's player plays of one track: the track in the first of
    :data:`shop.formats.STREAM_FORMATS` it has a file in, for a paid order only (``None``
    otherwise, as :func:`find_download`). ``kind`` is ``"stream"``: never counted."""
    order = find_paid_order(token)
    if order is None:
        return None
    track = _order_track(order, track_id)
    fmt = stream_format({f.format for f in track.files}) if track is not None else None
    if fmt is None:
        return None
    download = track_download(order, track_id, fmt, track)
    return None if download is None else replace(download, kind="stream")


def _order_track(order: Order, track_id: int) -> Track | None:
    query = (select(Track).join(Album)
             .where(Track.id == track_id, Album.pack_id == order.pack_id)
             .options(selectinload(Track.files), selectinload(Track.album).selectinload(Album.pack)))
    return db.session.scalar(query)


def track_download(order: Order, track_id: int, fmt: str, track: Track | None = None) -> Download | None:
    """One track in ``fmt`` (``track``, when given, is the order's track ``track_id`` already read)."""
    if track is None:
        track = _order_track(order, track_id)
    file = track.file(fmt) if track is not None else None
    if track is None or file is None or not order.gets_album(track.album):
        return None
    album = track.album
    return Download(
        order_id=order.id, kind="track", item_id=track.id, fmt=fmt,
        filename=safe_component(f"{album.artist} - {track.number:02d} {track.title}", file_extension(fmt)),
        mimetype=FORMATS_BY_ID[fmt].mime,
        source=ByteSource.blob(file.storage_key, file.size),
        etag=file.sha256,
        last_modified=album.pack.created_at,
        storage_key=file.storage_key,
    )


def _albums(order: Order, album_id: int | None = None) -> list[Album]:
    """The order's albums, as :meth:`Order.gets_album` decides (one album's order: that album; the
    bonus album only for an order that unlocked it)."""
    query = (
        select(Album).where(Album.pack_id == order.pack_id)
        .order_by(Album.position, Album.id)
        .options(selectinload(Album.tracks).selectinload(Track.files), selectinload(Album.pack))
    )
    if album_id is not None:
        query = query.where(Album.id == album_id)
    if order.album_id is not None:  # an order of one album (from its download code)
        query = query.where(Album.id == order.album_id)
    elif not order.bonus_unlocked:
        query = query.where(Album.is_bonus.is_(False))
    return list(db.session.scalars(query))


def album_members(album: Album, fmt: str, folder: str) -> list[Member]:
    """The members of one album folder: the tracks in ``fmt`` (named by
    :mod:`shop.catalog.layout`), the cover, and a ``SHA256SUMS`` file that
    ``sha256sum -c`` accepts inside the folder.

    Empty when the album has no track in ``fmt``.
    """
    names = UniqueNames()
    checksum_name = names.claim(CHECKSUM_FILE)
    entries = track_entries(album, fmt, names)
    if not entries:
        return []
    files = [
        Member(name=entry.name, size=entry.file.size, crc32=entry.file.crc32, sha256=entry.file.sha256,
               key=entry.file.storage_key)
        for entry in entries
    ]
    if album.cover_key and album.cover_size is not None and album.cover_crc32 is not None \
            and album.cover_sha256:
        extension = safe_component(album.cover_extension.lower(), max_bytes=10, fallback="img")
        name = names.claim("cover", f".{extension}")
        files.append(Member(name=name, size=album.cover_size, crc32=album.cover_crc32,
                            sha256=album.cover_sha256, key=album.cover_key))
    # Two spaces between sum and name: the text-mode format of sha256sum. Names are
    # free of backslashes and newlines, so no line needs sha256sum's escaping.
    listing = "".join(f"{m.sha256}  {m.name}\n" for m in files).encode("utf-8")
    members = [
        Member(name=f"{folder}/{m.name}", size=m.size, crc32=m.crc32, sha256=m.sha256, key=m.key)
        for m in files
    ]
    members.append(Member.generated(f"{folder}/{checksum_name}", listing))
    return members


def _zip_download(order: Order, kind: str, item_id: int | None, fmt: str, filename: str,
                  pack: Pack, members: Iterable[Member]) -> Download | None:
    members = list(members)
    if not members:
        return None
    layout = build_layout(members, modified=pack.created_at)
    return Download(
        order_id=order.id, kind=kind, item_id=item_id, fmt=fmt, filename=filename,
        mimetype=ZIP_MIMETYPE, source=ByteSource(layout.segments), etag=layout.digest,
        last_modified=pack.created_at,
    )


def album_download(order: Order, album_id: int, fmt: str) -> Download | None:
    albums = _albums(order, album_id)
    if not albums:
        return None
    album = albums[0]
    folder = safe_album_folder(album, fmt)
    filename = safe_component(album_folder_name(album, fmt), ".zip")
    return _zip_download(order, "album", album.id, fmt, filename, album.pack,
                         album_members(album, fmt, folder))


def pack_download(order: Order, fmt: str) -> Download | None:
    albums = _albums(order)
    if not albums:
        return None
    pack = albums[0].pack
    folders = UniqueNames()
    members: list[Member] = []
    for album in albums:
        if any(t.file(fmt) for t in album.tracks):
            members += album_members(album, fmt, folders.claim(album_folder_name(album, fmt)))
    filename = safe_component(f"{pack.title} ({format_label(fmt)})", ".zip")
    return _zip_download(order, "pack", None, fmt, filename, pack, members)
