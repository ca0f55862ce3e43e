"""File by file: one track file into the buyer's Dropbox, when the album paths cannot.

A file goes to its own name or, when a different file holds that name, to the first free
``name (n).ext`` (:func:`candidate_names`, which the batch path uses too). It is saved by
copy reference, minted again once when Dropbox calls it dead, and otherwise fetched by
Dropbox from a short-lived signed URL of ours (``save_url``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TypeGuard

from dropbox import files as dbx_files
from dropbox.exceptions import ApiError

from shop.dropbox.calls import FileFailed, NeedsSpace, Run, SaveError, save_error
from shop.dropbox.fetch_urls import signed_file_url
from shop.dropbox.models import Delivery, DeliveryFile, FileStatus
from shop.dropbox.references import describe_error, remint
from shop.extensions import db
from shop.models import utcnow

MAX_FREE_NAME_TRIES = 20
SAVE_URL_TIMEOUT = 15 * 60  # Dropbox's own limit for a save_url transfer


def candidate_names(name: str) -> Iterator[str]:
    """``name`` itself, then ``name (2).ext``, ``name (3).ext``, ... (MAX_FREE_NAME_TRIES in all)."""
    stem, dot, extension = name.rpartition(".")
    yield name
    for n in range(2, MAX_FREE_NAME_TRIES + 1):
        yield f"{stem} ({n}){dot}{extension}"


def is_our_file(entry: dbx_files.Metadata | None, file: DeliveryFile) -> TypeGuard[dbx_files.FileMetadata]:
    """Whether a Dropbox entry is this file already (same content hash)."""
    return isinstance(entry, dbx_files.FileMetadata) and entry.content_hash == file.track_file.dropbox_content_hash


def deliver_file(run: Run, delivery: Delivery, file: DeliveryFile) -> None:
    run.claim.hold()
    file.status = FileStatus.COPYING.value
    db.session.commit()
    try:
        method, final_path = place(run, delivery, file)
    except FileFailed as exc:
        # Only while holding the claim: a worker that took over may have delivered it since.
        run.claim.hold()
        file.status, file.error = FileStatus.FAILED.value, str(exc)
    else:
        # The file is in the buyer's Dropbox: that is true whoever holds the claim now.
        file.status, file.method, file.final_path, file.error = FileStatus.DONE.value, method, final_path, None
    db.session.commit()


def place(run: Run, delivery: Delivery, file: DeliveryFile) -> tuple[str, str]:
    """Put the file at its path, or the first free ``name (n).ext``; returns (method, path)."""
    for name in candidate_names(file.name):
        path = f"{file.folder}/{name}"
        outcome = save(run, delivery, file, path)
        if outcome != "conflict":
            return outcome, path
        existing = metadata(run, path)
        if is_our_file(existing, file):
            return "already_there", existing.path_display or path
    raise FileFailed(f"no free name for {file.name}")


def metadata(run: Run, path: str) -> dbx_files.Metadata | None:
    """The buyer's entry at ``path``, or None when there is none."""
    try:
        return run.call(lambda: run.dbx.files_get_metadata(path))
    except ApiError as exc:
        if exc.error.is_path() and exc.error.get_path().is_not_found():
            return None
        raise FileFailed(describe_error(exc)) from exc


def save(run: Run, delivery: Delivery, file: DeliveryFile, path: str) -> str:
    """Save one file: 'copy_reference' or 'save_url' on success, 'conflict' when taken."""
    track_file = file.track_file
    reminted = False
    if track_file.copy_ref and track_file.copy_ref_expires_at and track_file.copy_ref_expires_at <= utcnow():
        reminted = remint(run, track_file)
    while track_file.copy_ref:
        try:
            run.call(lambda: run.dbx.files_copy_reference_save(track_file.copy_ref, path))
            return "copy_reference"
        except ApiError as exc:
            error = save_error(exc.error)
            if name_taken(error, exc):
                return "conflict"
            if error != "dead_reference":
                raise FileFailed(describe_error(exc)) from exc
            if reminted or not remint(run, track_file):
                break
            reminted = True
    return save_from_url(run, delivery, file, path)


def save_from_url(run: Run, delivery: Delivery, file: DeliveryFile, path: str) -> str:
    """No usable copy reference: Dropbox fetches the file from a signed URL of ours."""
    if not delivery.used_fallback:
        delivery.used_fallback = True
        db.session.commit()
    url = signed_file_url(file.id)
    try:
        result = run.call(lambda: run.dbx.files_save_url(path, url))
    except ApiError as exc:
        if name_taken(save_error(exc.error), exc):
            return "conflict"
        raise FileFailed(describe_error(exc)) from exc
    deadline = time.monotonic() + SAVE_URL_TIMEOUT
    delay = 0.5
    while result.is_async_job_id():
        if time.monotonic() > deadline:
            raise FileFailed("Dropbox did not finish fetching the file in time")
        run.claim.wait(delay)
        delay = min(delay * 1.5, 5)
        job_id = result.get_async_job_id()
        try:
            status = run.call(lambda: run.dbx.files_save_url_check_job_status(job_id))  # noqa: B023
        except ApiError as exc:
            # invalid_async_job_id: Dropbox no longer knows the transfer (e.g. after a restart).
            raise FileFailed(f"Dropbox lost track of the transfer ({describe_error(exc)})") from exc
        if status.is_complete():
            return "save_url"
        if status.is_failed():
            failure = status.get_failed()
            if name_taken(save_error(failure), None):
                # Someone (another worker, a retry after a lost answer) got there first:
                # place() checks whether it is our file before trying another name.
                return "conflict"
            raise FileFailed(f"Dropbox could not fetch the file ({failure})")
    return "save_url"


def name_taken(error: SaveError | None, cause: Exception | None) -> bool:
    """Whether a refused save means the name is taken.

    :raises NeedsSpace: when it means the buyer's Dropbox is full.
    """
    if error == "no_space":
        raise NeedsSpace() from cause
    return error == "conflict"
