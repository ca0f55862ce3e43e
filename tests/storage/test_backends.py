"""The storage interface, run against each backend: a local folder and S3 (moto server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from shop.storage import LocalStorage, Storage, make_storage
from shop.storage.s3 import S3Storage

DATA = os.urandom(300_000)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return make_storage({"STORAGE": "s3", "S3_BUCKET": bucket, "S3_ENDPOINT_URL": endpoint,
                         "S3_REGION": "us-east-1"})


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(DATA)
    return path


def test_put_size_exists_read_delete(storage: Storage, source: Path) -> None:
    key = "audio/ab/abcdef.flac"
    assert not storage.exists(key)
    storage.put_file(key, source)
    assert storage.exists(key)
    assert storage.size(key) == len(DATA)
    assert storage.read_bytes(key) == DATA
    storage.put_file(key, source)  # replacing is allowed
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # absent keys are ignored


@pytest.mark.parametrize("start, length, chunk", [
    (0, 1, 1024), (0, len(DATA), 65536), (123, 4567, 1000), (len(DATA) - 1, 1, 7),
    (len(DATA) - 10_000, 10_000, 4096), (5, 0, 10),
])
def test_iter_range(storage: Storage, source: Path, start: int, length: int, chunk: int) -> None:
    storage.put_file("k/range.bin", source)
    chunks = list(storage.iter_range("k/range.bin", start, length, chunk_size=chunk))
    assert all(0 < len(c) <= chunk for c in chunks)
    assert b"".join(chunks) == DATA[start:start + length]


def test_missing_keys(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.size("no/such/key")
    with pytest.raises(FileNotFoundError):
        list(storage.iter_range("no/such/key", 0, 10))


def test_an_abandoned_read_can_be_closed(storage: Storage, source: Path) -> None:
    storage.put_file("k/abandon.bin", source)
    reader = storage.iter_range("k/abandon.bin", 0, len(DATA), chunk_size=1000)
    assert next(reader) == DATA[:1000]
    reader.close()
    assert storage.read_bytes("k/abandon.bin") == DATA


def test_s3_large_files_upload_in_parts(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    part = 5 * 1024 * 1024  # S3's smallest part
    storage = S3Storage(s3_bucket, endpoint_url=s3_endpoint, region="us-east-1",
                        transfer_config=TransferConfig(multipart_threshold=part, multipart_chunksize=part))
    big = tmp_path / "big.bin"
    data = os.urandom(2 * part + 12345)
    big.write_bytes(data)
    storage.put_file("audio/big.wav", big)
    head = storage.client.head_object(Bucket=s3_bucket, Key="audio/big.wav")
    assert head["ETag"].strip('"').endswith("-3"), "three parts, so a multipart upload"
    assert storage.size("audio/big.wav") == len(data)
    middle = b"".join(storage.iter_range("audio/big.wav", part - 10, 20 + part))
    assert middle == data[part - 10:2 * part + 10]


def test_s3_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="SHOP_S3_BUCKET"):
        S3Storage("")
