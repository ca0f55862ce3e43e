"""File and folder names that are safe to create on every common operating system.

Catalog text (artist, album and track titles) is written by people and may contain
anything: slashes, quotes, control characters, bidirectional overrides, names Windows
reserves. :func:`safe_component` turns such text into one path component that Windows,
macOS and Linux accept and that cannot climb out of the folder it is extracted into;
:class:`UniqueNames` then keeps components unique the way a case-insensitive file system
compares them.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# Characters Windows forbids in names, plus both path separators.
_FORBIDDEN = set('/\\:*?"<>|')
# Bidirectional embeddings, overrides and isolates: they make "evil\u202egpj.exe" look
# like "evilexe.jpg" in a file manager.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_RESERVED_WINDOWS = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{prefix}{digit}" for prefix in ("COM", "LPT") for digit in "0123456789¹²³"
}
_SPACES = re.compile(r"\s+")

# Most file systems allow 255 bytes per component; Windows paths historically stop at
# 260 characters. Two components of at most 120 bytes keep an extracted
# "Artist - Album (FMT)/NN Title.flac" well inside both, with room for the target folder.
MAX_COMPONENT_BYTES = 120


def _clean_char(char: str) -> str:
    if char in _FORBIDDEN or char in _BIDI_CONTROLS:
        return "_"
    category = unicodedata.category(char)
    if category == "Cc":  # C0 and C1 control characters, DEL
        return "_"
    if category in ("Zl", "Zp") or char in "\t\r\n\v\f":
        return " "
    return char


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def safe_component(text: str, extension: str = "", max_bytes: int = MAX_COMPONENT_BYTES,
                   fallback: str = "untitled") -> str:
    """One safe path component made from ``text``, ending in ``extension`` (e.g. ``".flac"``).

    The result is NFC-normalised, has no separators, forbidden or control characters, does
    not start with a dot or space, does not end with a dot or space, is not a reserved
    Windows device name, and is at most ``max_bytes`` bytes of UTF-8 including the extension.
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(_clean_char(c) for c in text)
    text = _SPACES.sub(" ", text).strip()
    text = text.lstrip(". ")
    budget = max_bytes - len(extension.encode("utf-8"))
    text = truncate_utf8(text, budget).rstrip(". ")
    if not text:
        text = fallback
    # Windows treats "CON.txt" and "con .flac" as the device too: compare the part
    # before the first dot, without trailing spaces, case-insensitively.
    if text.split(".", 1)[0].rstrip(" ").upper() in _RESERVED_WINDOWS:
        text = truncate_utf8("_" + text, budget)
    return text + extension


def collision_key(name: str) -> str:
    """How case-insensitive, normalising file systems (NTFS, APFS) compare names."""
    return unicodedata.normalize("NFC", name).casefold()


class UniqueNames:
    """Hands out names that are unique within one folder, deterministically.

    The first holder of a name keeps it; later ones become ``"name (2).ext"``,
    ``"name (3).ext"`` and so on, in the order they are asked for.
    """

    def __init__(self, max_bytes: int = MAX_COMPONENT_BYTES) -> None:
        self._taken: set[str] = set()
        self._max_bytes = max_bytes

    def claim(self, stem: str, extension: str = "") -> str:
        """A unique safe component for ``stem`` + ``extension`` (both raw catalog text)."""
        name = safe_component(stem, extension, self._max_bytes)
        counter = 1
        while collision_key(name) in self._taken:
            counter += 1
            suffix = f" ({counter})"
            base = safe_component(stem, "", self._max_bytes - len((suffix + extension).encode()))
            name = base + suffix + extension
        self._taken.add(collision_key(name))
        return name


# Letters that Unicode decomposition does not reduce to ASCII.
_TRANSLITERATE = str.maketrans({
    "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "ss", "Ł": "L",
    "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "Ð": "D", "ð": "d", "ı": "i",
})


def ascii_fallback(name: str) -> str:
    """An ASCII-only stand-in for ``name`` for the plain ``filename`` parameter."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_TRANSLITERATE))
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii")
    ascii_only = "".join(c if c.isprintable() and c not in '"\\%;' else "_" for c in ascii_only)
    ascii_only = re.sub(r"\s+(?=\.[^.]*$)", "", _SPACES.sub(" ", ascii_only)).strip(" .")
    _, dot, extension = name.rpartition(".")
    extension = extension if dot and extension.isascii() and extension.isalnum() else ""
    if not ascii_only or (extension and ascii_only == extension):
        ascii_only = f"download.{extension}" if extension else "download"
    return ascii_only


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """``attachment`` (or ``inline``: shown in the browser, as the player's streams are) with
    an ASCII ``filename`` and the exact UTF-8 ``filename*`` (RFC 6266, RFC 8187). ``name`` is
    made safe first, so hostile text cannot reach the header or the buyer's disk."""
    name = safe_component(name, max_bytes=255)
    fallback = ascii_fallback(name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
