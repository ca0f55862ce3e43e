"""Conditional and range requests (RFC 9110 sections 13 and 14), as plain functions.

Policy for ``Range`` (stricter than RFC 9110 allows, on purpose): exactly one
``bytes=first-last``, ``bytes=first-`` or suffix ``bytes=-N`` range is served, as 206.
A suffix range is the last ``N`` bytes, or the whole representation when ``N`` is larger
than the size (RFC 9110 14.1.2). Anything else in the ``bytes`` unit -- bad syntax,
several ranges, first after last, first at or beyond the size, ``bytes=-0``, a number of
more than 19 digits -- is answered 416 with ``Content-Range: bytes */SIZE`` so a client
never mistakes a full 200 body for the part it asked for. (The digit bound keeps ``int()``
away from numbers of thousands of digits, which it refuses with a ``ValueError``; 19
digits already exceed any size.) A ``Range`` in a unit other than ``bytes`` is ignored
(RFC 9110 14.2), as is any ``Range`` on a method other than GET and HEAD. A last position
beyond the end is cut to the end (14.1.1).

Preconditions are evaluated in the order of RFC 9110 13.2.2: ``If-Match``,
``If-Unmodified-Since``, ``If-None-Match`` (or ``If-Modified-Since`` when absent), then
``If-Range`` decides whether ``Range`` applies at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from werkzeug.http import parse_date

_BYTES_RANGE = re.compile(
    r"[ \t]*bytes[ \t]*=[ \t]*"
    r"(?:([0-9]{1,19})[ \t]*-[ \t]*([0-9]{0,19})|-[ \t]*([0-9]{1,19}))"
    r"[ \t]*",
    re.IGNORECASE,
)
_UNIT = re.compile(r"[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=")
_ETAG = re.compile(r'[ \t]*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*')


@dataclass(frozen=True)
class Decision:
    """What to answer: ``status`` and, for 200/206, the inclusive byte range ``first..last``.

    For an empty resource a 200 has ``first=0, last=-1`` (no bytes).
    """

    status: int
    first: int = 0
    last: int = -1

    @property
    def length(self) -> int:
        return self.last - self.first + 1 if self.status in (200, 206) else 0


class RangeNotSatisfiable(ValueError):
    """The ``Range`` header asks for something this store does not serve."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` range that ``header`` asks for, or ``None`` when
    the header is in another unit and is to be ignored.

    :raises RangeNotSatisfiable: per the module's policy.
    """
    match = _BYTES_RANGE.fullmatch(header)
    if match is None:
        unit = _UNIT.match(header)
        if unit and unit.group(1).lower() != "bytes":
            return None
        raise RangeNotSatisfiable(header)
    first_digits, last_digits, suffix_digits = match.groups()
    if suffix_digits is not None:
        suffix = int(suffix_digits)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(size - suffix, 0), size - 1
    first = int(first_digits)
    last = int(last_digits) if last_digits else size - 1
    if first >= size or first > last:
        raise RangeNotSatisfiable(header)
    return first, min(last, size - 1)


def parse_etags(header: str) -> list[tuple[bool, str]] | None:
    """``[(weak, opaque_tag), ...]`` from an ``If-Match``/``If-None-Match`` value, or
    ``None`` for ``*``. Malformed members are skipped (they can never match)."""
    if header.strip() == "*":
        return None
    tags = []
    for part in header.split(","):
        match = _ETAG.fullmatch(part)
        if match:
            tags.append((bool(match.group(1)), match.group(2)))
    return tags


def _http_date(value: str | None) -> datetime | None:
    return parse_date(value) if value else None


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def evaluate(
    method: str,
    size: int,
    etag: str,
    last_modified: datetime,
    *,
    range_header: str | None = None,
    if_range: str | None = None,
    if_match: str | None = None,
    if_unmodified_since: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> Decision:
    """Decide the status and byte range of a GET or HEAD for a resource.

    :param etag: the strong entity tag, without quotes.
    :param last_modified: timezone-aware; compared at whole seconds, as HTTP dates are.
    :returns: a decision with status 200, 206, 304, 412 or 416.
    """
    modified = _whole_seconds(last_modified)
    if if_match is not None:
        tags = parse_etags(if_match)
        # If-Match uses the strong comparison: weak tags never match.
        if tags is not None and not any(not weak and tag == etag for weak, tag in tags):
            return Decision(412)
    elif if_unmodified_since is not None:
        since = _http_date(if_unmodified_since)
        if since is not None and modified > since:
            return Decision(412)

    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        # If-None-Match uses the weak comparison: W/"x" matches "x".
        if tags is None or any(tag == etag for _, tag in tags):
            return Decision(304)
    elif if_modified_since is not None:
        since = _http_date(if_modified_since)
        if since is not None and modified <= since:
            return Decision(304)

    whole = Decision(200, 0, size - 1)
    if range_header is None or method not in ("GET", "HEAD"):
        return whole
    if if_range is not None and not if_range_matches(if_range, etag, modified):
        return whole
    try:
        parsed = parse_range(range_header, size)
    except RangeNotSatisfiable:
        return Decision(416)
    if parsed is None:
        return whole
    return Decision(206, *parsed)


def if_range_matches(value: str, etag: str, last_modified: datetime) -> bool:
    """RFC 9110 13.1.5: an entity tag must match strongly; a date must equal
    ``Last-Modified`` exactly. Anything else (a weak tag, garbage) does not match."""
    value = value.strip()
    if value.startswith(('"', "W/")):
        tags = parse_etags(value)
        return tags is not None and len(tags) == 1 and not tags[0][0] and tags[0][1] == etag
    moment = _http_date(value)
    return moment is not None and moment == _whole_seconds(last_modified)
