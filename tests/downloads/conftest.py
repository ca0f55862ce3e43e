"""Helpers for the download tests: URLs, zip checks with independent tools, free ports."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from shop.models import Album, Pack, Track

# Names chosen to break naive code: separators, traversal, Windows devices, bidi
# overrides, control characters, case-only duplicates, very long multi-byte titles.
HOSTILE_ALBUMS = (
    ("../../etc", "CON", "rock", [
        "..", "a/b\\c:d*e?f\"g<h>i|j", "evil\u202egpj.exe", "  .hidden  ", "Same", "same",
        # (No NUL: PostgreSQL text cannot hold it; test_names covers it.)
        "tab\tnew\nline\x01soh\x7f", "東京" * 60, "trailing dots...",
    ]),
    ("Ünïcode", "Ünïcode", "pop", ["Ωmega", "LPT1", "nul.txt"]),
    # Different in the catalog, the same folder once sanitised (and on NTFS/APFS).
    ("a:b", "x", "pop", ["One"]),
    ("A/B", "X", "pop", ["Two"]),
)

UTF8_ENV = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def album_url(token: str, album: Album | int, fmt: str = "flac") -> str:
    album_id = album if isinstance(album, int) else album.id
    return f"/orders/{token}/albums/{album_id}/{fmt}.zip"


def track_url(token: str, track: Track | int, fmt: str = "flac") -> str:
    track_id = track if isinstance(track, int) else track.id
    return f"/orders/{token}/tracks/{track_id}/{fmt}"


def pack_url(token: str, fmt: str = "flac") -> str:
    return f"/orders/{token}/pack/{fmt}.zip"


def first_track(pack: Pack) -> Track:
    return pack.albums[0].tracks[0]


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian packages: unzip, p7zip-full, libarchive-tools)"
        if os.environ.get("CI"):
            pytest.fail(message + "; make test installs them, so CI must have them")
        pytest.skip(message)
    return path


def run_tool(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=UTF8_ENV,
                            timeout=120, cwd=cwd)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def check_zip_everywhere(data: bytes, tmp_path: Path) -> list[str]:
    """Verify ``data`` with Python's zipfile, unzip -t, 7z t and bsdtar -tf.

    :returns: the member names as zipfile reads them.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    path = tmp_path / "checked.zip"
    path.write_bytes(data)
    unzip_out = run_tool(need_tool("unzip"), "-t", path)
    assert "No errors detected" in unzip_out
    seven_out = run_tool(need_tool("7z"), "t", path)
    assert "Everything is Ok" in seven_out
    bsdtar_out = run_tool(need_tool("bsdtar"), "-tf", path)
    assert sorted(bsdtar_out.splitlines()) == sorted(names)
    return names


class MemoryStorage:
    """A storage double for layout tests: blobs in a dict, ``zeros/<n>`` keys are ``n``
    zero bytes that exist only virtually (for multi-GiB members), and every read is
    recorded so tests can prove nothing before the requested offset is read."""

    def __init__(self, blobs: dict[str, bytes] | None = None) -> None:
        self.blobs = dict(blobs or {})
        self.reads: list[tuple[str, int, int]] = []

    def size(self, key: str) -> int:
        if key.startswith("zeros/"):
            return int(key.split("/", 1)[1])
        return len(self.blobs[key])

    def iter_range(self, key: str, start: int, length: int, chunk_size: int = 256 * 1024):
        self.reads.append((key, start, length))
        assert 0 <= start and start + length <= self.size(key), (key, start, length)
        for offset in range(start, start + length, chunk_size):
            size = min(chunk_size, start + length - offset)
            if key.startswith("zeros/"):
                yield bytes(size)
            else:
                yield self.blobs[key][offset:offset + size]

    @property
    def bytes_read(self) -> int:
        return sum(length for _, _, length in self.reads)
