"""Checksums computed once, at import, in a single pass over each file.

Downloads need the size and CRC-32 (zip headers written before the data); buyers get
SHA-256 sums; Dropbox delivery compares Dropbox content hashes.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

READ_SIZE = 1024 * 1024
DROPBOX_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Digests:
    size: int
    crc32: int
    sha256: str
    dropbox_content_hash: str


class DropboxHasher:
    """Dropbox's content hash: SHA-256 over the SHA-256 digests of 4 MiB blocks."""

    def __init__(self) -> None:
        self._overall = hashlib.sha256()
        self._block = hashlib.sha256()
        self._block_used = 0

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            take = min(DROPBOX_BLOCK - self._block_used, len(view))
            self._block.update(view[:take])
            self._block_used += take
            view = view[take:]
            if self._block_used == DROPBOX_BLOCK:
                self._overall.update(self._block.digest())
                self._block = hashlib.sha256()
                self._block_used = 0

    def hexdigest(self) -> str:
        overall = self._overall.copy()
        if self._block_used:
            overall.update(self._block.digest())
        return overall.hexdigest()


def digest_file(path: Path) -> Digests:
    size, crc = 0, 0
    sha = hashlib.sha256()
    dbx = DropboxHasher()
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_SIZE):
            size += len(chunk)
            crc = zlib.crc32(chunk, crc)
            sha.update(chunk)
            dbx.update(chunk)
    return Digests(size=size, crc32=crc, sha256=sha.hexdigest(), dropbox_content_hash=dbx.hexdigest())


def storage_key(kind: str, sha256: str, extension: str) -> str:
    """Content-addressed key: the same bytes always land on the same key."""
    return f"{kind}/{sha256[:2]}/{sha256}.{extension.lower()}"
