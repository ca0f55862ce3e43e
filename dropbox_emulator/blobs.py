"""Content-addressed file contents on disk.

Every byte the emulator stores lives in ``<root>/blobs/<aa>/<content hash>``.
Identical content is stored once, so copies (copy references, uploads of the
same file by many accounts) cost no bytes. Blobs are immutable and never
deleted while the emulator runs, which is what lets downloads stream from
disk without holding the metadata lock.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from .contenthash import ContentHasher

CHUNK_SIZE = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class Received:
    """A request body spooled to a temporary file.

    ``too_large`` means more than the limit arrived; the file is then already gone.
    """

    path: Path | None
    size: int
    content_hash: str
    too_large: bool = False


def read_chunks(stream: Readable, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := stream.read(chunk_size):
        yield chunk


def write_chunks(
    chunks: Iterable[bytes], out: BinaryIO, hashers: Sequence[ContentHasher], limit: int | None
) -> tuple[int, bool]:
    """Copy ``chunks`` to ``out`` feeding ``hashers``; past ``limit`` drain and write nothing.

    :returns: ``(bytes received, whether the limit was exceeded)``.
    """
    size = 0
    too_large = False
    for chunk in chunks:
        size += len(chunk)
        if limit is not None and size > limit:
            too_large = True
            continue
        out.write(chunk)
        for hasher in hashers:
            hasher.update(chunk)
    return size, too_large


class BlobStore:
    """Stores immutable blobs keyed by their Dropbox content hash under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._tmp = root / "tmp"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def new_temp(self) -> Path:
        """Create an empty temporary file on the blob filesystem (so commits are renames)."""
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="part-")
        os.close(fd)
        return Path(name)

    def receive(self, chunks: Iterable[bytes], limit: int | None = None) -> Received:
        """Spool ``chunks`` into a temporary file, hashing as they arrive."""
        path = self.new_temp()
        hasher = ContentHasher()
        with path.open("wb") as out:
            size, too_large = write_chunks(chunks, out, [hasher], limit)
        if too_large:
            path.unlink(missing_ok=True)
            return Received(None, size, "", too_large=True)
        return Received(path, size, hasher.hexdigest())

    def commit(self, temp: Path, content_hash: str) -> str:
        """Move ``temp`` into the store under ``content_hash`` (dropping it if known)."""
        target = self.path(content_hash)
        if target.exists():
            temp.unlink(missing_ok=True)
        else:
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
        return content_hash

    def put_bytes(self, data: bytes) -> str:
        """Store small ``data`` directly; returns its content hash."""
        received = self.receive([data])
        assert received.path is not None
        return self.commit(received.path, received.content_hash)

    def discard(self, temp: Path | None) -> None:
        if temp is not None:
            temp.unlink(missing_ok=True)

    def path(self, content_hash: str) -> Path:
        return self._blobs / content_hash[:2] / content_hash

    def iter_content(self, content_hash: str) -> Iterator[bytes]:
        """Yield the blob's bytes in chunks; the file is opened lazily and always closed."""
        with self.path(content_hash).open("rb") as source:
            yield from read_chunks(source)
