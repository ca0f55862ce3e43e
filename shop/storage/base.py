"""The storage interface every backend implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import Path

CHUNK_SIZE = 256 * 1024


class Storage(abc.ABC):
    """Immutable blobs addressed by key.

    Keys are made by the store (see :func:`shop.catalog.hashing.storage_key`); backends
    may assume they are relative, ``/``-separated and free of ``..``.
    """

    @abc.abstractmethod
    def put_file(self, key: str, source: Path) -> None:
        """Store the file at ``source`` under ``key`` (replacing what was there)."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a blob."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes.

        :raises FileNotFoundError: when the key is absent.
        """

    @abc.abstractmethod
    def iter_range(self, key: str, start: int, length: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield ``length`` bytes of the blob from ``start``, in chunks of at most ``chunk_size``.

        :raises FileNotFoundError: when the key is absent.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the blob; absent keys are ignored."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for ``key`` when the backend has one (for ``send_file``)."""
        return None

    def read_bytes(self, key: str) -> bytes:
        """The whole blob; for small objects such as covers."""
        return b"".join(self.iter_range(key, 0, self.size(key)))
