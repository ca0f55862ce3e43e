"""The formats a buyer can download, all encoded by the store from one lossless master.

One :class:`BuyerFormat` per format, in the order a buyer expects to see them: the small
file that plays everywhere first, lossless last. The ``id`` is the stable name used in URLs
(``/orders/<token>/tracks/<track_id>/<fmt>``) and on stored files; ``mp3`` is the id of the
time before masters and stays an alias of ``mp3-v0`` so old links keep working.

Vorbis is not offered: the PyAV wheel's FFmpeg (PyAV 18.1) is built without ``libvorbis``,
and FFmpeg's own ``vorbis`` encoder is marked experimental and sounds clearly worse at the
same size. Opus is the better open lossy format anyway. If a later wheel ships
``libvorbis`` (``"libvorbis" in av.codecs_available``), a ``vorbis`` entry can be added here
and in :mod:`shop.catalog.encoding`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuyerFormat:
    """One downloadable format.

    :param id: the stable name in URLs and storage keys (``"mp3-v0"``).
    :param extension: the file extension, without the dot (``"mp3"``).
    :param mime: the ``Content-Type`` a download is served with.
    :param label: the short name on buttons (``"MP3 V0"``).
    :param description: one line a buyer understands, shown next to the label.
    :param lossless: whether the file decodes to exactly the master's samples.
    """

    id: str
    extension: str
    mime: str
    label: str
    description: str
    lossless: bool


FORMATS: tuple[BuyerFormat, ...] = (
    BuyerFormat("mp3-v0", "mp3", "audio/mpeg", "MP3 V0", "MP3 V0: small, plays everywhere", False),
    BuyerFormat("mp3-320", "mp3", "audio/mpeg", "MP3 320", "MP3 320: the largest MP3, plays everywhere", False),
    BuyerFormat("aac", "m4a", "audio/mp4", "AAC", "AAC: small, best for iPhone and iTunes", False),
    BuyerFormat("opus", "opus", "audio/ogg", "Opus", "Opus: smallest for the quality, modern players", False),
    BuyerFormat("flac", "flac", "audio/flac", "FLAC", "FLAC: lossless, the usual choice", True),
    BuyerFormat("alac", "m4a", "audio/mp4", "ALAC", "ALAC: lossless for Apple", True),
    BuyerFormat("wav", "wav", "audio/wav", "WAV", "WAV: lossless, uncompressed (large)", True),
    BuyerFormat("aiff", "aiff", "audio/aiff", "AIFF", "AIFF: lossless, uncompressed for Mac (large)", True),
)

#: Ids of an earlier time, still accepted in URLs, and the format each one means now.
ALIASES: dict[str, str] = {"mp3": "mp3-v0"}

FORMATS_BY_ID: dict[str, BuyerFormat] = {fmt.id: fmt for fmt in FORMATS}

#: Every id in display order (aliases excluded).
FORMAT_IDS: tuple[str, ...] = tuple(fmt.id for fmt in FORMATS)


def canonical_format_id(format_id: str) -> str | None:
    """The current id for ``format_id`` (an id or an old alias), or ``None`` if unknown."""
    format_id = ALIASES.get(format_id, format_id)
    return format_id if format_id in FORMATS_BY_ID else None


def get_format(format_id: str) -> BuyerFormat:
    """The format for an id or an old alias (``"mp3"`` → MP3 V0).

    :raises KeyError: for an id that names no format; the message lists the valid ones.
    """
    canonical = canonical_format_id(format_id)
    if canonical is None:
        raise KeyError(f"unknown format {format_id!r}; expected one of {', '.join(FORMAT_IDS)}")
    return FORMATS_BY_ID[canonical]


_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve")


def _names_in_words(formats: tuple[BuyerFormat, ...]) -> str:
    """``MP3 V0 or 320, AAC, Opus, FLAC, ALAC, WAV, AIFF``: labels of one family (the label's
    first word) said once, with their variants."""
    families: dict[str, list[str]] = {}
    for fmt in formats:
        family, _, variant = fmt.label.partition(" ")
        families.setdefault(family, []).append(variant)
    return ", ".join(f"{family} {' or '.join(v for v in variants if v)}".rstrip()
                     for family, variants in families.items())


#: How many formats there are, in words (``"eight"``), and their names as a sentence says them,
#: for the footer, the pack page and the receipt: made from :data:`FORMATS`, so they follow it.
FORMAT_COUNT_IN_WORDS: str = _NUMBER_WORDS[len(FORMATS)] if len(FORMATS) < len(_NUMBER_WORDS) else str(len(FORMATS))
FORMAT_NAMES_IN_WORDS: str = _names_in_words(FORMATS)

#: The formats the order page's player streams, best first: MP3 plays in every current browser;
#: AAC and Opus stand in for a track that has no MP3. The lossless formats are never streamed
#: (FLAC and WAV play in most browsers, but at five to ten times the bytes of an MP3).
STREAM_FORMATS: tuple[str, ...] = tuple(f for f in ("mp3-v0", "mp3-320", "aac", "opus") if f in FORMATS_BY_ID)


def stream_format(available: frozenset[str] | set[str]) -> str | None:
    """The format a track is streamed in: the first of :data:`STREAM_FORMATS` it has a file in."""
    return next((fmt for fmt in STREAM_FORMATS if fmt in available), None)
