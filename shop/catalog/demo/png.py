"""A minimal PNG encoder for 8-bit RGB images held in numpy arrays.

Enough for generated cover art: one IDAT chunk, no interlacing, the "Sub" filter on every
row (smooth generative images compress far better with it than unfiltered).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPE_RGB = 2
FILTER_SUB = 1


def encode_png(pixels: np.ndarray, compression: int = 9) -> bytes:
    """Encode an ``(height, width, 3)`` ``uint8`` array as PNG bytes.

    :raises ValueError: for any other shape or dtype.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) uint8 array, got {pixels.shape} {pixels.dtype}")
    height, width, _ = pixels.shape
    if not (height and width):
        raise ValueError("an image needs at least one pixel")

    rows = pixels.reshape(height, width * 3)
    # Sub filter: each byte minus the byte of the pixel to its left, modulo 256.
    filtered = rows.copy()
    filtered[:, 3:] = rows[:, 3:] - rows[:, :-3]
    scanlines = np.empty((height, width * 3 + 1), dtype=np.uint8)
    scanlines[:, 0] = FILTER_SUB
    scanlines[:, 1:] = filtered

    header = struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPE_RGB, 0, 0, 0)
    return b"".join(
        (
            SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), compression)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
