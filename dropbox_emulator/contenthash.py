"""The Dropbox content hash, computed incrementally.

Dropbox hashes a file as SHA-256 over the concatenated SHA-256 digests of its
4 MiB blocks (https://www.dropbox.com/developers/reference/content-hash).
The emulator has its own implementation so the contract tests can hold it
against the SDK's ``dropbox.content_hash``.
"""

from __future__ import annotations

import hashlib

BLOCK_SIZE = 4 * 1024 * 1024


class ContentHasher:
    """Incremental Dropbox content hasher; feed bytes with :meth:`update`.

    :meth:`copy` snapshots the state so a failed append can be rolled back.
    """

    def __init__(self) -> None:
        self._overall = hashlib.sha256()
        self._block = hashlib.sha256()
        self._block_used = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            if self._block_used == BLOCK_SIZE:
                self._overall.update(self._block.digest())
                self._block = hashlib.sha256()
                self._block_used = 0
            take = min(BLOCK_SIZE - self._block_used, len(view))
            self._block.update(view[:take])
            self._block_used += take
            view = view[take:]

    def hexdigest(self) -> str:
        """Return the 64-character lowercase hex hash of everything fed so far."""
        overall = self._overall.copy()
        if self._block_used:
            overall.update(self._block.digest())
        return overall.hexdigest()

    def copy(self) -> ContentHasher:
        clone = ContentHasher()
        clone._overall = self._overall.copy()
        clone._block = self._block.copy()
        clone._block_used = self._block_used
        return clone


def content_hash(data: bytes) -> str:
    """Return the Dropbox content hash of ``data``."""
    hasher = ContentHasher()
    hasher.update(data)
    return hasher.hexdigest()
