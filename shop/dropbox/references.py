"""Copy references to the store's Dropbox files and folders: minting and recording them.

The seed mints a reference for every track file and every album-and-format folder; a
delivery mints one again when Dropbox says the recorded one is dead. Both go through here,
so a reference is always stored with an aware expiry, and errors read the same in logs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dropbox import files as dbx_files
from dropbox.exceptions import ApiError

from shop.models import TrackFile, utcnow

if TYPE_CHECKING:  # shop.dropbox.models imports nothing from here, but keep the floors apart
    from shop.dropbox.models import AlbumFolderRef


def aware(value: datetime) -> datetime:
    """The SDK decodes Dropbox timestamps as naive UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def record_reference(row: TrackFile | AlbumFolderRef, result: dbx_files.GetCopyReferenceResult) -> None:
    """Store a freshly minted reference on a track file or folder row (not committed)."""
    row.copy_ref = result.copy_reference
    row.copy_ref_expires_at = aware(result.expires)
    if hasattr(row, "minted_at"):
        row.minted_at = utcnow()


def describe_error(exc: Exception) -> str:
    """A short, secret-free description of a Dropbox failure for logs and messages."""
    if isinstance(exc, ApiError):
        return str(exc.error)
    return type(exc).__name__
