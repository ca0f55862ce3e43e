"""Any byte range of a laid-out resource, read straight from storage.

A :class:`ByteSource` is a sorted list of segments (see :mod:`shop.downloads.ziplayout`);
a single track is a source of one segment. Serving a range finds the first segment by
binary search and starts reading that blob at the right offset, so a request for the
last megabyte of a 10 GB zip reads one megabyte, never the 10 GB before it.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator, Sequence

from shop.downloads.ziplayout import Segment
from shop.storage.base import Storage

# Large reads keep the per-chunk Python overhead (one read, one socket write) small next
# to the copying itself; measured in bench/downloads.py. Memory per download stays at
# about one chunk.
STREAM_CHUNK_SIZE = 1024 * 1024
# A download of an order refunded or disputed meanwhile stops within this many chunks or
# seconds, whichever comes first (one indexed SELECT per check).
REVOCATION_CHECK_CHUNKS = 16
REVOCATION_CHECK_SECONDS = 2.0


class DownloadRevoked(Exception):
    """The order stopped being paid while its download was streaming; the server drops the
    connection, so the client sees a short, failed download rather than a complete file."""


class ByteSource:
    """A resource of ``size`` bytes made of contiguous segments starting at offset 0."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        expected = 0
        for segment in segments:
            if segment.offset != expected:
                raise ValueError(f"segment at {segment.offset} does not start at {expected}")
            expected += segment.length
        self.segments = tuple(s for s in segments if s.length)
        self._starts = [s.offset for s in self.segments]
        self.size = expected

    @classmethod
    def blob(cls, key: str, size: int) -> ByteSource:
        return cls([Segment(0, size, key=key)])

    def iter_range(self, storage: Storage, start: int, length: int,
                   chunk_size: int = STREAM_CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the ``length`` bytes from ``start``.

        :raises ValueError: when the range is not inside the resource.
        """
        if start < 0 or length < 0 or start + length > self.size:
            raise ValueError(f"range {start}+{length} outside 0..{self.size}")
        index = bisect.bisect_right(self._starts, start) - 1
        position, remaining = start, length
        while remaining > 0:
            segment = self.segments[index]
            skip = position - segment.offset
            take = min(segment.length - skip, remaining)
            if segment.data is not None:
                for piece in range(skip, skip + take, chunk_size):
                    yield segment.data[piece:min(piece + chunk_size, skip + take)]
            else:
                assert segment.key is not None
                yield from storage.iter_range(
                    segment.key, segment.key_offset + skip, take, chunk_size
                )
            position += take
            remaining -= take
            index += 1


def stream(source: ByteSource, storage: Storage, start: int, length: int,
           on_complete: Callable[[], None] | None = None,
           chunk_size: int = STREAM_CHUNK_SIZE,
           still_allowed: Callable[[], bool] | None = None) -> Iterator[bytes]:
    """Yield the range, then call ``on_complete``.

    A WSGI server asks for the next chunk only after it has written the previous one, so
    ``on_complete`` runs once the last byte has been handed to the socket; if the client
    goes away first, the server closes this generator and ``on_complete`` never runs.

    :param still_allowed: asked every :data:`REVOCATION_CHECK_CHUNKS` chunks or
        :data:`REVOCATION_CHECK_SECONDS`, whichever comes first.
    :raises DownloadRevoked: when ``still_allowed`` answers False (nothing more is sent).
    """
    chunks, checked_at = 0, time.monotonic()
    for chunk in source.iter_range(storage, start, length, chunk_size):
        if still_allowed is not None:
            chunks += 1
            if chunks >= REVOCATION_CHECK_CHUNKS or time.monotonic() - checked_at >= REVOCATION_CHECK_SECONDS:
                if not still_allowed():
                    raise DownloadRevoked()
                chunks, checked_at = 0, time.monotonic()
        yield chunk
    if on_complete is not None:
        on_complete()
