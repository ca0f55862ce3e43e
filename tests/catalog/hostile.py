"""Hostile and unusual input, built for real: zips patched byte by byte, masters whose headers
say nonsense, tags with absurd numbers or terminal escape codes.

Each builder starts from a valid file made by :mod:`tests.catalog.audio` and changes only
the bytes that make it hostile, so a refusal is about exactly that.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from mutagen.flac import FLAC
from PIL import Image

#: What an attacker's tag could send to an operator's terminal: a window title, a screen
#: clear and a hyperlink (OSC 0, CSI 2J, OSC 8).
TERMINAL_ESCAPES = "Evil\x1b]0;owned\x07\x1b[2J\x1b]8;;https://attacker.example/\x07click\x1b]8;;\x07"

_EOCD = b"PK\x05\x06"
_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"


def zip_of(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, body in entries:
            archive.writestr(name, body)
    return buffer.getvalue()


def _central_records(data: bytes) -> list[int]:
    """Offsets of the central directory's records, walked from the end record (no guessing
    at signatures that compressed data could contain)."""
    end = data.rindex(_EOCD)
    count, _size, offset = struct.unpack_from("<HII", data, end + 10)
    records = []
    for _ in range(count):
        assert data[offset:offset + 4] == _CENTRAL
        records.append(offset)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        offset += 46 + name_len + extra_len + comment_len
    return records


def _local_offsets(data: bytes) -> list[int]:
    offsets = [struct.unpack_from("<I", data, record + 42)[0] for record in _central_records(data)]
    assert all(data[o:o + 4] == _LOCAL for o in offsets)
    return offsets


def with_encryption_flag(body: bytes) -> bytes:
    """The same zip with general-purpose flag bit 0 ("encrypted") set on every member, in
    the local headers and the central directory, as a password-protected zip has it."""
    data = bytearray(body)
    for local in _local_offsets(body):
        struct.pack_into("<H", data, local + 6, struct.unpack_from("<H", data, local + 6)[0] | 0x1)
    for record in _central_records(body):
        struct.pack_into("<H", data, record + 8, struct.unpack_from("<H", data, record + 8)[0] | 0x1)
    return bytes(data)


def with_compression_method(body: bytes, method: int) -> bytes:
    """The same zip claiming another compression method (9 is Deflate64) for every member."""
    data = bytearray(body)
    for local in _local_offsets(body):
        struct.pack_into("<H", data, local + 8, method)
    for record in _central_records(body):
        struct.pack_into("<H", data, record + 10, method)
    return bytes(data)


def with_damaged_first_member(body: bytes, length: int = 64) -> bytes:
    """The same zip with ``length`` bytes of the first member's compressed data overwritten
    (0xff starts a deflate block of the reserved type 3: "invalid block type")."""
    data = bytearray(body)
    local = _local_offsets(body)[0]
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_len + extra_len
    data[start:start + length] = b"\xff" * length
    return bytes(data)


def truncated(body: bytes, keep: float = 0.5) -> bytes:
    return body[: int(len(body) * keep)]


def patch_wav_format(path: Path, *, format_tag: int | None = None, bits: int | None = None) -> Path:
    """Rewrite fields of a WAV's ``fmt `` chunk in place (a soundfile WAV has it at byte 12)."""
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"fmt ", "expected the fmt chunk first"
    if format_tag is not None:
        struct.pack_into("<H", data, 20, format_tag)
    if bits is not None:
        struct.pack_into("<H", data, 34, bits)
    path.write_bytes(bytes(data))
    return path


def retag_flac(path: Path, **tags: str) -> Path:
    audio = FLAC(path)
    for key, value in tags.items():
        audio[key] = value
    audio.save()
    return path


# ------------------------------------------------------------------------------ covers


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_of_zeros(width: int, height: int, rows_per_block: int = 100) -> bytes:
    """A valid all-black greyscale PNG of ``width`` × ``height``: a decompression bomb when
    large (40000 × 40000 is 1.6 gigapixels in about 1.6 MB).

    Deflate output after a full flush does not depend on what came before, so one block of
    ``rows_per_block`` zero rows is compressed once and repeated; the Adler-32 of n zero
    bytes is (n mod 65521) << 16 | 1.
    """
    assert height % rows_per_block == 0
    block = bytes((width + 1) * rows_per_block)  # each row: filter type 0, then its pixels
    compressor = zlib.compressobj(9)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == first[2:]  # the same bytes, without the 2-byte zlib header
    total = (width + 1) * height
    stream = first + again * (height // rows_per_block - 1) + b"\x03\x00" + struct.pack(">I", (total % 65521) << 16 | 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")


def noise_image(width: int, height: int, kind: str = "PNG", seed: int = 0) -> bytes:
    """A real photo-like (noisy) RGB image, encoded by Pillow."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, kind)
    return out.getvalue()


def padded(image: bytes, extra: int) -> bytes:
    """A valid image followed by ``extra`` zero bytes, which decoders ignore."""
    return image + bytes(extra)
