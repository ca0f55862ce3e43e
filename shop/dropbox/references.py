"""Copy references to the store's Dropbox files and folders: minting and recording them.

The seed mints a reference for every track file and every album-and-format folder; a
delivery mints one again when Dropbox says the recorded one is dead. Both go through here,
so a reference is always stored with an aware expiry, and errors read the same in logs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dropbox import files as dbx_files
from dropbox.exceptions import ApiError

from shop.columns import as_utc
from shop.dropbox.calls import FileFailed, NeedsReconnect, Run
from shop.extensions import db
from shop.models import TrackFile, utcnow

if TYPE_CHECKING:  # shop.dropbox.models imports nothing from here, but keep the floors apart
    from shop.dropbox.models import AlbumFolderRef

log = logging.getLogger(__name__)


def record_reference(row: TrackFile | AlbumFolderRef, result: dbx_files.GetCopyReferenceResult) -> None:
    """Store a freshly minted reference on a track file or folder row (not committed)."""
    row.copy_ref = result.copy_reference
    row.copy_ref_expires_at = as_utc(result.expires)  # the SDK decodes it as naive UTC
    if hasattr(row, "minted_at"):
        row.minted_at = utcnow()


def describe_error(exc: Exception) -> str:
    """A short, secret-free description of a Dropbox failure for logs and messages."""
    if isinstance(exc, ApiError):
        return str(exc.error)
    return type(exc).__name__


def fresh_reference(run: Run, path: str | None) -> dbx_files.GetCopyReferenceResult | None:
    """A new copy reference to ``path`` in the store's Dropbox, or None when it cannot be had."""
    if not path:
        return None
    try:
        return run.call(lambda: run.store().files_copy_reference_get(path), store=True)
    except (ApiError, FileFailed, NeedsReconnect) as exc:
        log.warning("delivery %s: cannot mint a reference for %s: %s", run.delivery_id, path, describe_error(exc))
        return None


def remint(run: Run, row: TrackFile | AlbumFolderRef) -> bool:
    """During a delivery: mint a new reference for a track file or album folder from the
    store's copy, and record it (committed)."""
    result = fresh_reference(run, row.dropbox_path)
    if result is None:
        return False
    record_reference(row, result)
    db.session.commit()
    return True
