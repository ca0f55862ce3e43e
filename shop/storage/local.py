"""Storage in a local folder (the default, and for single-machine deployments)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from shop.storage.base import CHUNK_SIZE, Storage


class LocalStorage(Storage):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        # Keys are store-made, but refuse anything that would leave the root regardless.
        if self.root not in path.parents:
            raise ValueError(f"storage key escapes the media root: {key!r}")
        return path

    def put_file(self, key: str, source: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy beside the target, then rename: readers never see a half-written file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.fchmod(fd, 0o644)  # not mkstemp's 0600: nginx (X-Accel-Redirect) reads the file as its own user
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK_SIZE)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def iter_range(self, key: str, start: int, length: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with open(self._path(key), "rb") as fh:
            fh.seek(start)
            remaining = length
            while remaining > 0:
                chunk = fh.read(min(chunk_size, remaining))
                if not chunk:
                    raise OSError(f"{key}: file is shorter than expected")
                remaining -= len(chunk)
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)
