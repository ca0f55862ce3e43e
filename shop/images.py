"""Images the store makes from album covers with Pillow, each made once and kept in media
storage under a key derived from what it is made of (so a changed cover makes a new one):
the 1200×630 share card of a pack (a mosaic of its covers) and WebP covers at a few widths.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from shop.storage import Storage

SHARE_SIZE = (1200, 630)
SHARE_BACKGROUND = (24, 24, 27)
MISSING_COVER = (63, 63, 70)
#: The widths a cover is offered at (``srcset``): the page shows it at 180 CSS pixels.
COVER_WIDTHS = (180, 360, 540)
#: Bump when the drawing changes, so cached images are made again.
RECIPE = "1"


def _open(data: bytes) -> Image.Image | None:
    """The picture in ``data`` as RGB, or ``None`` when it is not an image Pillow reads."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def cached_image(storage: Storage, key: str, make: Callable[[], bytes | None]) -> bytes | None:
    """The blob at ``key``, made with ``make()`` and stored there first when it is absent
    (``None``, and nothing stored, when ``make()`` gives ``None``). Two processes making the
    same key at once store the same bytes: harmless."""
    if storage.exists(key):
        return storage.read_bytes(key)
    data = make()
    if data is None:
        return None
    fd, name = tempfile.mkstemp(suffix=".img")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        storage.put_file(key, Path(name))
    finally:
        os.unlink(name)
    return data


def share_key(cover_keys: Sequence[str]) -> str:
    """The storage key of the share card made of these covers, in this order."""
    digest = hashlib.sha256("\n".join([RECIPE, *cover_keys]).encode()).hexdigest()
    return f"share/{digest[:2]}/{digest}.png"


def grid(count: int, size: tuple[int, int] = SHARE_SIZE) -> tuple[int, int, int]:
    """``(columns, rows, tile)``: the square tiles that show ``count`` covers largest in ``size``."""
    width, height = size
    best = (1, 1, 0)
    for columns in range(1, max(count, 1) + 1):
        rows = math.ceil(max(count, 1) / columns)
        tile = min(width // columns, height // rows)
        if tile > best[2]:
            best = (columns, rows, tile)
    return best


def share_card(covers: Sequence[bytes]) -> bytes:
    """A 1200×630 PNG: the covers as a centred grid of squares on a dark background (a cover
    Pillow cannot read is a grey square)."""
    card = Image.new("RGB", SHARE_SIZE, SHARE_BACKGROUND)
    columns, rows, tile = grid(len(covers))
    left = (SHARE_SIZE[0] - columns * tile) // 2
    top = (SHARE_SIZE[1] - rows * tile) // 2
    for index, data in enumerate(covers):
        picture = _open(data)
        square = (ImageOps.fit(picture, (tile, tile), Image.Resampling.LANCZOS) if picture
                  else Image.new("RGB", (tile, tile), MISSING_COVER))
        card.paste(square, (left + index % columns * tile, top + index // columns * tile))
    out = io.BytesIO()
    card.save(out, "PNG", optimize=True)
    return out.getvalue()


def webp_key(cover_sha256: str, width: int) -> str:
    return f"covers-webp/{cover_sha256[:2]}/{cover_sha256}-{width}-{RECIPE}.webp"


def webp_cover(data: bytes, width: int) -> bytes | None:
    """The cover as a ``width``-pixel square WebP, or ``None`` when Pillow cannot read it."""
    picture = _open(data)
    if picture is None:
        return None
    out = io.BytesIO()
    ImageOps.fit(picture, (width, width), Image.Resampling.LANCZOS).save(out, "WEBP", quality=82, method=4)
    return out.getvalue()
