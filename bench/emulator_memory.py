"""Measure the Dropbox emulator's memory while it takes a 2 GB upload and a copy of it.

Starts ``python -m dropbox_emulator`` as a subprocess (with a temporary
``--data-dir``), uploads SIZE bytes through an upload session in CHUNK-sized
appends generated on the fly (the official SDK, over loopback HTTP), saves it
into a second account with a copy reference, and samples the emulator's RSS
(psutil) throughout. Also reports the blob directory's size before and after
the copy, to show the copy costs no bytes.

    .venv/bin/python bench/emulator_memory.py [--size-mib 2048] [--chunk-mib 32]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dropbox
import requests
from dropbox.files import CommitInfo, UploadSessionCursor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dropbox_emulator.testing import EmulatorProcess, RedirectingSession, RssSampler  # noqa: E402

MiB = 1024 * 1024
APP = ("benchkey", "benchsecret", "Bench")


def chunks(total: int, size: int) -> Iterator[bytes]:
    """Deterministic, incompressible-looking chunks, made one at a time."""
    sent, counter = 0, 0
    while sent < total:
        length = min(size, total - sent)
        seed = hashlib.sha256(counter.to_bytes(8, "big")).digest()
        yield (seed * (length // 32 + 1))[:length]
        sent += length
        counter += 1


def client(base_url: str, email: str) -> dropbox.Dropbox:
    response = requests.post(f"{base_url}/__emulator__/tokens",
                             json={"app_key": APP[0], "email": email}, timeout=10)
    response.raise_for_status()
    return dropbox.Dropbox(response.json()["access_token"], session=RedirectingSession(base_url),
                           max_retries_on_error=0, max_retries_on_rate_limit=0, timeout=600)


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def mib(value: int) -> str:
    return f"{value / MiB:8.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--chunk-mib", type=int, default=32)
    args = parser.parse_args()
    total, chunk = args.size_mib * MiB, args.chunk_mib * MiB

    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as data_dir, \
            EmulatorProcess(apps=[APP], data_dir=data_dir) as server:
        store = client(server.base_url, "store@example.com")
        buyer = client(server.base_url, "buyer@example.com")
        store.users_get_current_account()
        buyer.users_get_current_account()
        blobs = Path(data_dir) / "blobs"

        started = time.monotonic()
        with RssSampler(server.pid) as upload_rss:
            pieces = chunks(total, chunk)
            first = next(pieces)
            session_id = store.files_upload_session_start(first).session_id
            offset = len(first)
            for piece in pieces:
                store.files_upload_session_append_v2(piece, UploadSessionCursor(session_id,
                                                                                offset))
                offset += len(piece)
            uploaded = store.files_upload_session_finish(
                b"", UploadSessionCursor(session_id, offset), CommitInfo("/Albums/big.bin"))
        upload_seconds = time.monotonic() - started
        blob_bytes_after_upload = tree_bytes(blobs)

        started = time.monotonic()
        with RssSampler(server.pid) as copy_rss:
            reference = store.files_copy_reference_get("/Albums/big.bin").copy_reference
            copied = buyer.files_copy_reference_save(reference, "/big.bin").metadata
        copy_seconds = time.monotonic() - started
        blob_bytes_after_copy = tree_bytes(blobs)
        stats = requests.get(f"{server.base_url}/__emulator__/stats", timeout=10).json()

    assert uploaded.size == total and copied.size == total
    assert copied.content_hash == uploaded.content_hash
    print(f"file: {mib(total)} in {args.chunk_mib} MiB appends "
          f"({total // chunk + (total % chunk > 0)} requests)")
    print(f"upload: {upload_seconds:6.1f} s   emulator RSS before {mib(upload_rss.before)}"
          f"  peak {mib(upload_rss.peak)}  after {mib(upload_rss.after)}"
          f"  growth at peak {mib(upload_rss.peak - upload_rss.before)}")
    print(f"copy:   {copy_seconds:6.1f} s   emulator RSS before {mib(copy_rss.before)}"
          f"  peak {mib(copy_rss.peak)}  after {mib(copy_rss.after)}"
          f"  growth at peak {mib(copy_rss.peak - copy_rss.before)}")
    print(f"blob store: {mib(blob_bytes_after_upload)} after upload, "
          f"{mib(blob_bytes_after_copy)} after copy")
    print(f"bytes uploaded per account: "
          f"{ {e: a['bytes_uploaded'] for e, a in stats['accounts'].items()} }")
    return 0


if __name__ == "__main__":
    sys.exit(main())
