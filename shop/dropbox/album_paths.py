"""A whole album in a handful of calls: the fast path and the batch path.

No folder for the album in the buyer's Dropbox: the fast path saves the store's
album-and-format folder there with one ``copy_reference/save``. A folder that lacks some
files (a half-delivered album): the batch path saves the store's folder to a temporary
folder in the app folder, moves the missing files into place with one ``move_batch_v2`` and
deletes the temporary folder. What neither delivers goes file by file (:mod:`.file_path`).
"""

from __future__ import annotations

import logging
import time

from dropbox import files as dbx_files
from dropbox.exceptions import ApiError, BadInputError
from sqlalchemy import select

from shop.dropbox.calls import FileFailed, Run, save_error
from shop.dropbox.file_path import candidate_names, is_our_file
from shop.dropbox.models import AlbumFolderRef, Delivery, DeliveryFile, FileStatus
from shop.dropbox.paths import store_folder
from shop.dropbox.references import describe_error, remint
from shop.extensions import db
from shop.models import utcnow

log = logging.getLogger(__name__)

# The batch path's temporary folders, at the top of the buyer's app folder (no parent folder to
# leave behind): one per delivery and album.
TEMP_PREFIX = "/.indie-packs-tmp-"
# How long a move batch may stay ``in_progress`` before the files go one by one instead.
MOVE_BATCH_TIMEOUT = 10 * 60
# Seconds before the first check, doubled after every in_progress answer, up to MAX_BATCH_CHECK.
# The launch itself took a round trip, so a small batch is usually done by the first check.
FIRST_BATCH_CHECK = 0.05
MAX_BATCH_CHECK = 5.0


def temp_folder(delivery_id: int, album_id: int) -> str:
    """Where the batch path saves the store's album folder before moving files out of it."""
    return f"{TEMP_PREFIX}{delivery_id}-{album_id}"


def mark_done(file: DeliveryFile, method: str | None, final_path: str | None) -> None:
    """Record a file as delivered (not committed); ``method`` None keeps the one it has."""
    file.status, file.final_path, file.error = FileStatus.DONE.value, final_path, None
    if method is not None:
        file.method = method
    file.updated_at = utcnow()


def folder_reference(delivery: Delivery, files: list[DeliveryFile]) -> AlbumFolderRef | None:
    """The store's folder reference for this album and format, if it holds exactly these files."""
    album = files[0].album
    ref = db.session.scalar(select(AlbumFolderRef).where(
        AlbumFolderRef.album_id == album.id, AlbumFolderRef.format == delivery.format))
    if ref is None or ref.dropbox_path != store_folder(album, delivery.format) or ref.file_count != len(files):
        return None
    return ref


def save_folder(run: Run, ref: AlbumFolderRef, path: str) -> str:
    """Save the store's album folder at ``path``: 'saved', 'conflict', 'no_space' or 'refused'."""
    for attempt in range(2):
        try:
            run.call(lambda: run.dbx.files_copy_reference_save(ref.copy_ref, path))
            return "saved"
        except ApiError as exc:
            error = save_error(exc.error)
            if error in ("conflict", "no_space"):
                return str(error)
            if attempt == 0 and error == "dead_reference":
                if not remint(run, ref):
                    return "refused"
                continue
            log.info("delivery %s: folder reference refused (%s)", run.delivery_id, describe_error(exc))
            return "refused"
        except (FileFailed, BadInputError):
            return "refused"
    return "refused"


def try_folder_fast_path(run: Run, delivery: Delivery, files: list[DeliveryFile]) -> str:
    """The buyer has no folder for this album: save the store's whole folder in one call.

    :returns: the outcome of :func:`save_folder` ('saved' when the album is delivered), or
        'no_reference'.
    """
    ref = folder_reference(delivery, files)
    if ref is None:
        return "no_reference"
    outcome = save_folder(run, ref, files[0].folder)
    if outcome != "saved":
        # Taken meanwhile, too big as a whole, or refused: the next paths take over.
        return outcome
    run.claim.hold()  # a worker that lost its claim meanwhile writes nothing
    for file in files:
        mark_done(file, "folder", file.path)
    db.session.commit()
    return "saved"


def try_batch_path(run: Run, delivery: Delivery, files: list[DeliveryFile], todo: list[DeliveryFile],
                   listing: dict[str, dbx_files.Metadata]) -> list[DeliveryFile]:
    """Complete an album whose folder lacks some files; returns the files still to do one by one.

    Files already there with our content hash are marked done without a call. The others
    are moved out of a fresh copy of the store's folder, each to its own name or, when a
    different file has that name, to the first free ``name (n).ext`` (as file by file
    does). The moved files are checked against the batch's own results (name and content
    hash of each moved file), so the verification costs no extra call.

    Every step can be repeated: the files are marked ``method='batch'`` before the save,
    so a run that died anywhere in between leaves a trace, and the next run deletes the
    temporary folder before anything else (``Deliverer.deliver_album``).
    """
    ref = folder_reference(delivery, files)
    moves, left = plan_moves(run, todo, listing, mark_batch=ref is not None)
    if ref is None or not moves:
        return left + [file for file, _ in moves]
    temp = temp_folder(run.delivery_id, files[0].album_id)
    outcome = save_folder(run, ref, temp)
    if outcome == "conflict":
        # Left by a run that died after its save: start again from a fresh copy.
        remove_temp(run, temp)
        outcome = save_folder(run, ref, temp)
    if outcome != "saved":
        log.info("delivery %s: batch path not possible (%s); going file by file", run.delivery_id, outcome)
        return left + [file for file, _ in moves]
    results = move_batch(run, [(f"{temp}/{file.name}", f"{file.folder}/{target}") for file, target in moves])
    # Not in a ``finally``: a run that dies here leaves its ``batch`` marks, and the next run
    # deletes the folder first (a killed process runs no cleanup either).
    remove_temp(run, temp)
    if results is None or len(results) != len(moves):
        results = [None] * len(moves)
    run.claim.hold()
    for (file, _), entry in zip(moves, results, strict=True):
        if is_our_file(entry, file):
            mark_done(file, None, entry.path_display)
        else:
            left.append(file)  # not moved, or not ours: file by file sorts it out
    db.session.commit()
    return left


def plan_moves(run: Run, todo: list[DeliveryFile], listing: dict[str, dbx_files.Metadata],
               mark_batch: bool) -> tuple[list[tuple[DeliveryFile, str]], list[DeliveryFile]]:
    """Which file moves to which name, and which files are left for file by file (committed:
    files already there are marked done, and with ``mark_batch`` the moving ones get their trace)."""
    moves: list[tuple[DeliveryFile, str]] = []
    left: list[DeliveryFile] = []
    taken = dict(listing)
    run.claim.hold()
    for file in todo:
        target, existing = free_name(file, taken)
        if existing is not None:
            mark_done(file, "already_there", existing)
        elif target is None:
            left.append(file)
        else:
            taken[target.lower()] = dbx_files.FolderMetadata(name=target, id="id:reserved")
            moves.append((file, target))
            if mark_batch:
                # The trace a run that dies from here on leaves (see deliver_album).
                file.status, file.method = FileStatus.COPYING.value, "batch"
    db.session.commit()
    return moves, left


def free_name(file: DeliveryFile, taken: dict[str, dbx_files.Metadata]) -> tuple[str | None, str | None]:
    """``(name to move to, None)``, or ``(None, path)`` when our file is already there, or (None, None)."""
    for name in candidate_names(file.name):
        existing = taken.get(name.lower())
        if existing is None:
            return name, None
        if is_our_file(existing, file):
            return None, existing.path_display or f"{file.folder}/{name}"
    return None, None


def move_batch(run: Run, moves: list[tuple[str, str]]) -> list[dbx_files.Metadata | None] | None:
    """Move files with one ``move_batch_v2``; per move its new metadata, or None where it failed.

    Returns None when the outcome is unknown (Dropbox lost the job, or it took too long).
    """
    entries = [dbx_files.RelocationPath(from_path=src, to_path=dst) for src, dst in moves]
    try:
        launch = run.call(lambda: run.dbx.files_move_batch_v2(entries, autorename=False))
    except (FileFailed, BadInputError) as exc:
        log.info("delivery %s: move batch refused (%s)", run.delivery_id, describe_error(exc))
        return None
    if launch.is_complete():
        result = launch.get_complete()
    else:
        job_id = launch.get_async_job_id()
        deadline = time.monotonic() + MOVE_BATCH_TIMEOUT
        delay = FIRST_BATCH_CHECK
        while True:
            # A short pause: the heartbeat thread keeps the claim alive, beat() still notices
            # a lost claim (wait() would write a beat for every poll).
            run.claim.sleep(delay)
            run.claim.beat()
            try:
                status = run.call(lambda: run.dbx.files_move_batch_check_v2(job_id))  # noqa: B023
            except (ApiError, FileFailed) as exc:
                log.info("delivery %s: move batch lost (%s)", run.delivery_id, describe_error(exc))
                return None
            if status.is_complete():
                result = status.get_complete()
                break
            if time.monotonic() > deadline:
                log.info("delivery %s: move batch still in progress after %s s", run.delivery_id,
                         MOVE_BATCH_TIMEOUT)
                return None
            delay = min(delay * 2, MAX_BATCH_CHECK)
    return [entry.get_success() if entry.is_success() else None for entry in result.entries]


def remove_temp(run: Run, path: str) -> None:
    """Delete a temporary folder (and what is left in it); gone already is fine."""
    try:
        run.call(lambda: run.dbx.files_delete_v2(path))
    except ApiError as exc:
        error = exc.error
        if not (error.is_path_lookup() and error.get_path_lookup().is_not_found()):
            log.warning("delivery %s: could not delete %s (%s)", run.delivery_id, path, describe_error(exc))
    except FileFailed as exc:
        log.warning("delivery %s: could not delete %s (%s)", run.delivery_id, path, exc)


def list_album(run: Run, folder: str) -> dict[str, dbx_files.Metadata] | None:
    """The buyer's album folder by lower-cased name, or None when there is no such folder."""
    try:
        result = run.call(lambda: run.dbx.files_list_folder(folder))
        entries = list(result.entries)
        while result.has_more:
            cursor = result.cursor
            result = run.call(lambda: run.dbx.files_list_folder_continue(cursor))  # noqa: B023
            entries.extend(result.entries)
    except ApiError as exc:
        error = exc.error
        if error.is_path() and error.get_path().is_not_found():
            return None
        log.info("delivery %s: cannot list %s (%s)", run.delivery_id, folder, describe_error(exc))
        return {}
    except FileFailed as exc:
        log.info("delivery %s: cannot list %s (%s)", run.delivery_id, folder, exc)
        return {}
    return {entry.name.lower(): entry for entry in entries}
