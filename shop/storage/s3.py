"""Storage in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), through boto3.

Reads are ranged ``GetObject`` calls streamed in chunks, so a zip assembled from S3
objects reads exactly the bytes it sends and holds about one chunk in memory per
download. Credentials come from boto3's usual chain (environment, shared files,
instance roles); none are configured here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from shop.storage.base import CHUNK_SIZE, Storage

# Multipart above 64 MiB, in 64 MiB parts: a 2 GB WAV album track is 32 parts, far from
# S3's 10,000-part limit, and each part is retried on its own.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK_SIZE = 64 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING


class S3Storage(Storage):
    """Blobs as objects of one bucket, keyed by the storage key itself."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None,
                 client: Any = None, transfer_config: TransferConfig | None = None) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name (SHOP_S3_BUCKET)")
        self.bucket = bucket
        # One client per backend: boto3 clients are thread-safe (sessions are not), and
        # each gunicorn thread may be streaming from it at once.
        self.client = client or boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=64,
                s3={"addressing_style": "path"} if endpoint_url else None,
            ),
        )
        self.transfer_config = transfer_config or TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK_SIZE,
        )

    def put_file(self, key: str, source: Path) -> None:
        # upload_file switches to a multipart upload above the threshold; S3 makes the
        # object visible only once complete, so readers never see part of it.
        self.client.upload_file(str(source), self.bucket, key, Config=self.transfer_config)

    def _head(self, key: str) -> dict[str, Any]:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
            return head
        except ClientError as error:
            if _is_missing(error):
                raise FileNotFoundError(key) from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def iter_range(self, key: str, start: int, length: int,
                   chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        if length <= 0:
            return
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except ClientError as error:
            if _is_missing(error):
                raise FileNotFoundError(key) from None
            raise
        body = response["Body"]
        try:
            remaining = length
            while remaining > 0:
                chunk = body.read(min(chunk_size, remaining))
                if not chunk:
                    raise OSError(f"{key}: object is shorter than expected")
                remaining -= len(chunk)
                yield chunk
        finally:
            # Also when the client went away mid-download: give the connection back.
            body.close()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)
