"""Media storage: where audio files and covers live, behind one small interface.

Keys are content-addressed (``audio/ab/<sha256>.flac``) and always made by the store,
never taken from a URL, so no request can name a path outside the storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from shop.storage.base import Storage
from shop.storage.local import LocalStorage

__all__ = ["LocalStorage", "Storage", "get_storage", "make_storage"]


def make_storage(config: Mapping[str, Any]) -> Storage:
    """Build the backend named by ``STORAGE`` (``local`` or ``s3``)."""
    kind = config.get("STORAGE", "local")
    if kind == "local":
        return LocalStorage(config["MEDIA_ROOT"])
    if kind == "s3":
        # boto3 takes a while to import: only stores that use S3 pay for it.
        from shop.storage.s3 import S3Storage

        return S3Storage(
            bucket=config["S3_BUCKET"],
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region=config.get("S3_REGION"),
        )
    raise ValueError(f"SHOP_STORAGE must be 'local' or 's3', not {kind!r}")


def get_storage(app: Flask | None = None) -> Storage:
    """The app's storage backend, built once per app."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    storage = app.extensions.get("shop.storage")
    if storage is None:
        storage = app.extensions["shop.storage"] = make_storage(app.config)
    return storage
