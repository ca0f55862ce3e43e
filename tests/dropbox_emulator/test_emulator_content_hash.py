"""The content-hash test vectors: the emulator must agree with dropbox.content_hash."""

from __future__ import annotations

import hashlib

import pytest
from dropbox.content_hash import content_hash as sdk_content_hash

from dropbox_emulator.contenthash import ContentHasher, content_hash

MiB = 1024 * 1024
VECTORS = [
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358"),
    (bytes(4 * MiB), "c7e946d101855255d919ef0c70718633adf77d3dfb3adeeecf5d0cb4e951be58"),
    (bytes(4 * MiB + 1), "14a4d47f23a30177885d9820122f17d2d3a55fe63f7f5c27b95f689e0b2accd6"),
]


@pytest.mark.parametrize(("data", "expected"), VECTORS, ids=["empty", "abc", "4MiB", "4MiB+1"])
def test_vectors_match_sdk(data, expected):
    assert sdk_content_hash(data) == expected
    assert content_hash(data) == expected


def test_incremental_feeding_matches_one_shot():
    data = hashlib.sha256(b"seed").digest() * (9 * MiB // 32 + 7)
    hasher = ContentHasher()
    for start in range(0, len(data), 1_000_003):
        hasher.update(data[start:start + 1_000_003])
    assert hasher.hexdigest() == sdk_content_hash(data)


@pytest.mark.parametrize(("data", "expected"), VECTORS, ids=["empty", "abc", "4MiB", "4MiB+1"])
def test_uploaded_files_report_vector_hash(store_dbx, data, expected):
    assert store_dbx.files_upload(data, "/vector.bin").content_hash == expected
