"""Album covers: decoded with Pillow under a byte cap and a pixel cap, then re-encoded.

A cover is shown on the pack page and embedded in every buyer file, so it must be an image
a browser and a player can show, and small: a FLAC picture block holds at most 16 MiB, and
a gigapixel PNG of a few MB would be handed to every visitor. Each cover is therefore
decoded fully (a truncated or corrupt one is refused here, naming it) and written again as
the same kind of image with its longest side at most :data:`MAX_SIDE` pixels; whatever else
the file carried (trailing bytes, metadata) stays behind. The result depends only on the
input, so importing the same cover twice stores the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from shop.catalog.hashing import Digests, digest_file, storage_key
from shop.catalog.tags import AudioTags

COVER_NAMES = ("cover", "folder")
COVER_EXTENSIONS = (".jpg", ".jpeg", ".png")
#: Bytes a cover file (or embedded art) may have before it is decoded at all.
MAX_BYTES = 10 * 1024 * 1024
#: Pixels a cover may have (width × height): 40 megapixels, e.g. 6000 × 6000 fits.
MAX_PIXELS = 40_000_000
#: Longest side of a stored cover, in pixels.
MAX_SIDE = 1200
JPEG_QUALITY = 90
_KINDS = {"JPEG": "jpg", "PNG": "png"}
#: Modes a PNG keeps as they are; anything else (16-bit, CMYK...) is written as 8-bit RGB(A).
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}


class CoverError(ValueError):
    """A cover the store will not use; ``str(exc)`` says why (and, from :func:`find_cover`, which file)."""


@dataclass(frozen=True)
class ScannedCover:
    """A cover as it will be stored (re-encoded, at ``path``), and where it came from."""

    path: Path
    source: str
    extension: str
    digests: Digests
    #: The SHA-256 of the image as the operator gave it; albums imported before covers were
    #: re-encoded carry this one.
    original_sha256: str

    @property
    def key(self) -> str:
        return storage_key("covers", self.digests.sha256, self.extension)


def find_cover(folder: Path, tags: list[AudioTags], workdir: Path, notes: list[str]) -> ScannedCover | None:
    """The album's cover: ``cover``/``folder`` ``.jpg``/``.png`` in ``folder``, else the first
    JPEG or PNG art embedded in a file; re-encoded into ``workdir`` (it must outlive the import).

    :raises CoverError: naming the file, for a cover :func:`prepare_cover` refuses.
    """
    by_name = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    for stem in COVER_NAMES:
        for ext in COVER_EXTENSIONS:
            path = by_name.get(stem + ext)
            if path is None:
                continue
            # Checked before reading: a cover file is read whole.
            if path.stat().st_size > MAX_BYTES:
                raise CoverError(f"{path}: the image is {_mb(path.stat().st_size)}; "
                                 f"a cover may have at most {_mb(MAX_BYTES)}")
            try:
                return _stored(path.read_bytes(), path.name, workdir)
            except CoverError as exc:
                raise CoverError(f"{path}: {exc}") from None

    for file in tags:
        picture = file.picture
        if picture is None or not picture.data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
            continue
        notes.append(f"no cover file: used the art embedded in {file.path.name}")
        try:
            return _stored(picture.data, f"embedded in {file.path.name}", workdir)
        except CoverError as exc:
            raise CoverError(f"{file.path}: its embedded cover art: {exc}; "
                             "put a cover.jpg or cover.png in the folder instead") from None
    notes.append("no cover image (cover.jpg/png, folder.jpg/png or embedded art)")
    return None


def _stored(data: bytes, source: str, workdir: Path) -> ScannedCover:
    prepared = prepare_cover(data)
    original = hashlib.sha256(data).hexdigest()
    # Named by content so two albums' covers never collide in the workdir.
    path = workdir / f"{original}.{prepared.extension}"
    path.write_bytes(prepared.data)
    return ScannedCover(path=path, source=source, extension=prepared.extension, digests=digest_file(path),
                        original_sha256=original)


@dataclass(frozen=True)
class PreparedCover:
    data: bytes
    extension: str  # "jpg" or "png"
    width: int
    height: int


def prepare_cover(data: bytes) -> PreparedCover:
    """Decode ``data`` (a JPEG or PNG) under the caps and re-encode it at most
    :data:`MAX_SIDE` pixels on its longest side.

    :raises CoverError: for more than :data:`MAX_BYTES`, an image that is neither JPEG nor
        PNG, more than :data:`MAX_PIXELS` pixels, or one that cannot be decoded to its end.
    """
    if len(data) > MAX_BYTES:
        raise CoverError(f"the image is {_mb(len(data))}; a cover may have at most {_mb(MAX_BYTES)}")
    try:
        with Image.open(io.BytesIO(data), formats=list(_KINDS)) as image:
            _check_pixels(*image.size)
            # A camera's JPEG may open as MPO (several pictures in one JPEG): its first is the cover.
            kind = "PNG" if image.format == "PNG" else "JPEG"
            image.load()
            icc = image.info.get("icc_profile")
            upright = ImageOps.exif_transpose(image)
    except CoverError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard fires at open for the largest images, before _check_pixels.
        raise CoverError(f"the image has more than {MAX_PIXELS // 1_000_000} megapixels") from None
    except UnidentifiedImageError:
        raise CoverError("not a JPEG or PNG image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CoverError(f"the image cannot be decoded ({exc or type(exc).__name__})") from None
    upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if kind == "JPEG":
        rgb = upright if upright.mode in ("L", "RGB") else upright.convert("RGB")
        rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=icc)
    else:
        if upright.mode not in _PNG_MODES:
            upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
        upright.save(out, "PNG", optimize=True, icc_profile=icc)
    return PreparedCover(out.getvalue(), _KINDS[kind], upright.width, upright.height)


def _check_pixels(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise CoverError(f"the image is {width} × {height} pixels")
    if width * height > MAX_PIXELS:
        raise CoverError(f"the image is {width} × {height} pixels; a cover may have at most "
                         f"{MAX_PIXELS // 1_000_000} megapixels")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
