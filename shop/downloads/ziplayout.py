"""The byte layout of a stored (uncompressed) zip, computed before any byte is read.

Written from the PKWARE APPNOTE (6.3.x). Because every member's size and CRC-32 come from
the catalog, each local header can be written with its final values: no data
descriptors, and the archive's exact length and every member's offset are known up
front. The layout is a list of :class:`Segment` s: literal bytes (headers, the central
directory, small generated files) and ranges of stored blobs (the audio itself).

Everything in the output is a function of the members given and ``modified``: same
input, same bytes, so the layout's digest is a strong validator.

Structure (APPNOTE 4.3.6)::

    [local file header + name (+ ZIP64 extra)] [file data]   ... per member
    [central directory header + name (+ ZIP64 extra)]        ... per member
    [ZIP64 end of central directory record + locator]        only when needed
    [end of central directory record]
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

LOCAL_HEADER_SIGNATURE = 0x04034B50
CENTRAL_HEADER_SIGNATURE = 0x02014B50
END_SIGNATURE = 0x06054B50
ZIP64_END_SIGNATURE = 0x06064B50
ZIP64_LOCATOR_SIGNATURE = 0x07064B50
ZIP64_EXTRA_ID = 0x0001

FLAG_UTF8 = 1 << 11  # general purpose bit 11: name is UTF-8 (APPNOTE appendix D)
METHOD_STORED = 0
VERSION_DEFAULT = 20  # 2.0: what stored members with no other feature need
VERSION_ZIP64 = 45  # 4.5: ZIP64 format extensions
# "Version made by": upper byte 3 = UNIX (so the external attributes are Unix modes),
# lower byte 63 = APPNOTE 6.3, the version that defines the UTF-8 flag.
VERSION_MADE_BY = (3 << 8) | 63
EXTERNAL_ATTRIBUTES = (0o100644 << 16)  # regular file, rw-r--r--

MAX_16 = 0xFFFF
MAX_32 = 0xFFFFFFFF

# Bump when the bytes for the same members would change (a new field, another order):
# it is part of the digest, so ETags change with it.
LAYOUT_VERSION = b"shop-zip-layout-1"


@dataclass(frozen=True)
class Member:
    """One file in the archive.

    Either ``key`` names a blob in storage (``size`` and ``crc32`` from the catalog) or
    ``content`` holds the bytes themselves (small generated files).
    """

    name: str
    size: int
    crc32: int
    sha256: str
    key: str | None = None
    content: bytes | None = None

    @classmethod
    def generated(cls, name: str, content: bytes) -> Member:
        return cls(name=name, size=len(content), crc32=zlib.crc32(content),
                   sha256=hashlib.sha256(content).hexdigest(), content=content)


@dataclass(frozen=True)
class Segment:
    """``length`` bytes of the archive from ``offset``: literal ``data``, or a range of
    the blob ``key`` starting at ``key_offset``."""

    offset: int
    length: int
    data: bytes | None = None
    key: str | None = None
    key_offset: int = 0


@dataclass(frozen=True)
class ZipLayout:
    segments: tuple[Segment, ...]
    size: int
    entries: int
    zip64: bool
    digest: str


def dos_datetime(moment: datetime) -> tuple[int, int]:
    """``(time, date)`` in MS-DOS format, clamped to the years it can hold (1980-2107)."""
    if moment.year < 1980:
        return 0, (1 << 5) | 1  # 1980-01-01 00:00:00
    if moment.year > 2107:
        moment = datetime(2107, 12, 31, 23, 59, 58)
    dos_time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    dos_date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    return dos_time, dos_date


def _zip64_extra(*values: int) -> bytes:
    return struct.pack(f"<HH{len(values)}Q", ZIP64_EXTRA_ID, 8 * len(values), *values)


def local_header(name: bytes, member: Member, dos_time: int, dos_date: int) -> bytes:
    """Local file header (APPNOTE 4.3.7) with final CRC and sizes.

    A member of 4 GiB or more stores 0xFFFFFFFF in both size fields and the real sizes
    in a ZIP64 extra field, which in a local header must hold both (4.5.3).
    """
    if member.size >= MAX_32:
        size_field, extra, version = MAX_32, _zip64_extra(member.size, member.size), VERSION_ZIP64
    else:
        size_field, extra, version = member.size, b"", VERSION_DEFAULT
    return struct.pack(
        "<IHHHHHIIIHH", LOCAL_HEADER_SIGNATURE, version, FLAG_UTF8, METHOD_STORED,
        dos_time, dos_date, member.crc32, size_field, size_field, len(name), len(extra),
    ) + name + extra


def central_header(name: bytes, member: Member, offset: int, dos_time: int, dos_date: int) -> bytes:
    """Central directory file header (APPNOTE 4.3.12).

    Fields that overflow hold their maximum and move, in the APPNOTE's fixed order
    (uncompressed size, compressed size, local header offset), into a ZIP64 extra field
    that contains only those overflowing fields (4.5.3).
    """
    zip64_values: list[int] = []
    size_field = member.size
    if member.size >= MAX_32:
        size_field = MAX_32
        zip64_values += [member.size, member.size]
    offset_field = offset
    if offset >= MAX_32:
        offset_field = MAX_32
        zip64_values.append(offset)
    extra = _zip64_extra(*zip64_values) if zip64_values else b""
    version = VERSION_ZIP64 if zip64_values else VERSION_DEFAULT
    return struct.pack(
        "<IHHHHHHIIIHHHHHII", CENTRAL_HEADER_SIGNATURE, VERSION_MADE_BY, version, FLAG_UTF8,
        METHOD_STORED, dos_time, dos_date, member.crc32, size_field, size_field,
        len(name), len(extra), 0, 0, 0, EXTERNAL_ATTRIBUTES, offset_field,
    ) + name + extra


def end_records(entries: int, cd_offset: int, cd_size: int,
                force_zip64: bool = False) -> tuple[bytes, bool]:
    """The end of central directory record, preceded by the ZIP64 record and locator when
    a count or offset does not fit its classic field (APPNOTE 4.3.14-4.3.16, 4.4.1.4).

    :returns: the bytes and whether ZIP64 records were written.
    """
    zip64 = force_zip64 or entries >= MAX_16 or cd_offset >= MAX_32 or cd_size >= MAX_32
    tail = b""
    if zip64:
        zip64_end_offset = cd_offset + cd_size
        # "Size of zip64 end of central directory record" excludes its first 12 bytes.
        tail += struct.pack(
            "<IQHHIIQQQQ", ZIP64_END_SIGNATURE, 44, VERSION_MADE_BY, VERSION_ZIP64, 0, 0,
            entries, entries, cd_size, cd_offset,
        )
        tail += struct.pack("<IIQI", ZIP64_LOCATOR_SIGNATURE, 0, zip64_end_offset, 1)
    tail += struct.pack(
        "<IHHHHIIH", END_SIGNATURE, 0, 0, min(entries, MAX_16), min(entries, MAX_16),
        min(cd_size, MAX_32), min(cd_offset, MAX_32), 0,
    )
    return tail, zip64


def build_layout(members: Sequence[Member], modified: datetime) -> ZipLayout:
    """Lay out ``members`` (in the given order) as one stored zip.

    :param members: unique, already safe ``/``-separated names.
    :param modified: the timestamp written on every member.
    :raises ValueError: on a duplicate name or a member with neither key nor content.
    """
    dos_time, dos_date = dos_datetime(modified)
    segments: list[Segment] = []
    central = bytearray()
    seen: set[str] = set()
    digest = hashlib.sha256(LAYOUT_VERSION)
    offset = 0
    for member in members:
        if member.name in seen:
            raise ValueError(f"duplicate zip member name: {member.name!r}")
        seen.add(member.name)
        name = member.name.encode("utf-8")
        header = local_header(name, member, dos_time, dos_date)
        central += central_header(name, member, offset, dos_time, dos_date)
        digest.update(member.sha256.encode("ascii") + b"\n")
        if member.content is not None:
            data = header + member.content
            segments.append(Segment(offset, len(data), data=data))
        elif member.key is not None:
            segments.append(Segment(offset, len(header), data=header))
            if member.size:
                segments.append(Segment(offset + len(header), member.size, key=member.key))
        else:
            raise ValueError(f"zip member {member.name!r} has neither a storage key nor content")
        offset += len(header) + member.size

    cd_offset, cd_size = offset, len(central)
    tail, zip64 = end_records(len(members), cd_offset, cd_size,
                              force_zip64=cd_offset + cd_size >= MAX_32)
    trailer = bytes(central) + tail
    segments.append(Segment(offset, len(trailer), data=trailer))
    digest.update(trailer)
    return ZipLayout(segments=tuple(segments), size=offset + len(trailer), entries=len(members),
                     zip64=zip64, digest=digest.hexdigest())
