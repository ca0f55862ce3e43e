"""Copy, move and batch delete inside one account.

``files/copy_v2`` and ``files/move_v2`` relocate one file or folder (with its
subtree). ``files/move_batch_v2``, ``files/copy_batch_v2`` and
``files/delete_batch`` do all their entries, in order, when the batch is
launched, and report one result per entry: a conflicting destination is a
per-entry ``failure``, never a failed batch. Whether a batch answers
``complete`` at once or an ``async_job_id`` (and how many checks then answer
``in_progress``) is set with :meth:`~.emulator.Emulator.set_batch_mode`, so
both shapes are deterministic to test.

A move keeps ids and content hashes (files get a new rev) and never changes
the account's usage; a copy adds the copied bytes and fails with
``insufficient_quota`` when they do not fit the allocation.
"""

from __future__ import annotations

from typing import Any

from .calls import Call, bool_field, lookup, need_object, route, str_field, write_target
from .filesystem import InsufficientSpace, WriteConflict, is_within
from .ids import new_job_id, utcnow
from .routes_files import delete_one
from .state import BatchJob
from .wire import BadInput, RouteError, conflict_error, lookup_error

WRITE = "files.content.write"
MAX_BATCH_ENTRIES = 1000


def _from_lookup(error: dict[str, Any]) -> dict[str, Any]:
    return {".tag": "from_lookup", "from_lookup": error}


def _to(error: dict[str, Any]) -> dict[str, Any]:
    return {".tag": "to", "to": error}


def relocate(call: Call, from_path: str, to_path: str, autorename: bool, copy: bool
             ) -> dict[str, Any]:
    """Copy or move one item; caller holds the transaction.

    :returns: the tagged metadata of the item at its destination.
    :raises RouteError: a ``RelocationError``.
    """
    source = lookup(call, from_path, _from_lookup, field="from_path")
    if source is None:
        raise RouteError(_from_lookup(lookup_error("not_found")))
    destination = write_target(call, to_path, _to, field="to_path")
    namespace = call.namespace
    destination_lower = destination.lower()
    if destination_lower != source.path_lower and is_within(destination_lower,
                                                            source.path_lower):
        raise RouteError({".tag": "cant_move_folder_into_itself"})
    below = [] if source.is_file else namespace.subtree(source.path_lower)
    if len(below) > call.emulator.settings.max_copy_entries:
        raise RouteError({".tag": "too_many_files"})
    if autorename and namespace.get(destination) is not None and not namespace.file_ancestor(
            destination):
        destination = namespace.free_path(destination, source.is_file)
    try:
        if copy:
            node = namespace.paste(source, below, destination, utcnow(),
                                   limit=call.account.allocated)
        else:
            node = namespace.move(source, destination)
    except WriteConflict as conflict:
        raise RouteError(_to(conflict_error(conflict.kind))) from None
    except InsufficientSpace:
        raise RouteError({".tag": "insufficient_quota"}) from None
    return call.metadata(node)


def _relocation_arg(arg: Any) -> tuple[str, str]:
    arg = need_object(arg)
    return str_field(arg, "from_path"), str_field(arg, "to_path")


@route("files/copy_v2", scope=WRITE, write=True)
def copy_v2(call: Call, arg: Any) -> dict[str, Any]:
    from_path, to_path = _relocation_arg(arg)
    autorename = bool_field(need_object(arg), "autorename")
    with call.emulator.store.transaction():
        return {"metadata": relocate(call, from_path, to_path, autorename, copy=True)}


@route("files/move_v2", scope=WRITE, write=True)
def move_v2(call: Call, arg: Any) -> dict[str, Any]:
    from_path, to_path = _relocation_arg(arg)
    autorename = bool_field(need_object(arg), "autorename")
    with call.emulator.store.transaction():
        return {"metadata": relocate(call, from_path, to_path, autorename, copy=False)}


# -- batches -----------------------------------------------------------------------------------

def _entries(arg: dict[str, Any], minimum: int) -> list[Any]:
    entries = arg.get("entries")
    if not isinstance(entries, list):
        raise BadInput("request body: entries: missing required field")
    if not minimum <= len(entries) <= MAX_BATCH_ENTRIES:
        raise BadInput(f"request body: entries: expected between {minimum} and "
                       f"{MAX_BATCH_ENTRIES} items, got {len(entries)}")
    return entries


def _launch(call: Call, kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """Answer a finished batch as ``complete`` or as an ``async_job_id`` to check."""
    settings = call.emulator.settings
    if not settings.batch_async:
        return {".tag": "complete", **result}
    job = BatchJob(new_job_id(), call.account.account_id, kind, result,
                   settings.batch_in_progress_checks)
    with call.emulator.store.lock:
        call.emulator.store.batch_jobs[job.job_id] = job
    return {".tag": "async_job_id", "async_job_id": job.job_id}


def _check(call: Call, arg: Any, kind: str) -> dict[str, Any]:
    job_id = str_field(need_object(arg), "async_job_id")
    store = call.emulator.store
    with store.lock:
        job = store.batch_jobs.get(job_id)
        if job is None or job.account_id != call.account.account_id or job.kind != kind:
            raise RouteError({".tag": "invalid_async_job_id"})
        if job.checks_left > 0:
            job.checks_left -= 1
            return {".tag": "in_progress"}
        return {".tag": "complete", **job.result}


def _relocation_batch(call: Call, arg: Any, copy: bool) -> dict[str, Any]:
    arg = need_object(arg)
    pairs = [_relocation_arg(entry) for entry in _entries(arg, 1)]
    autorename = bool_field(arg, "autorename")
    bool_field(arg, "allow_ownership_transfer")
    results: list[dict[str, Any]] = []
    with call.emulator.store.transaction():
        for from_path, to_path in pairs:
            try:
                metadata = relocate(call, from_path, to_path, autorename, copy)
            except RouteError as failure:
                results.append({".tag": "failure", "failure": {
                    ".tag": "relocation_error", "relocation_error": failure.error}})
            else:
                results.append({".tag": "success", "success": metadata})
    return _launch(call, "copy_batch" if copy else "move_batch", {"entries": results})


@route("files/move_batch_v2", scope=WRITE, write=True)
def move_batch_v2(call: Call, arg: Any) -> dict[str, Any]:
    return _relocation_batch(call, arg, copy=False)


@route("files/move_batch/check_v2", scope=WRITE)
def move_batch_check_v2(call: Call, arg: Any) -> dict[str, Any]:
    return _check(call, arg, "move_batch")


@route("files/copy_batch_v2", scope=WRITE, write=True)
def copy_batch_v2(call: Call, arg: Any) -> dict[str, Any]:
    return _relocation_batch(call, arg, copy=True)


@route("files/copy_batch/check_v2", scope=WRITE)
def copy_batch_check_v2(call: Call, arg: Any) -> dict[str, Any]:
    return _check(call, arg, "copy_batch")


@route("files/delete_batch", scope=WRITE, write=True)
def delete_batch(call: Call, arg: Any) -> dict[str, Any]:
    entries = _entries(need_object(arg), 0)
    for entry in entries:
        str_field(need_object(entry), "path")
    results: list[dict[str, Any]] = []
    with call.emulator.store.transaction():
        for entry in entries:
            try:
                metadata = delete_one(call, entry)
            except RouteError as failure:
                results.append({".tag": "failure", "failure": failure.error})
            else:
                results.append({".tag": "success", "metadata": metadata})
    return _launch(call, "delete_batch", {"entries": results})


@route("files/delete_batch/check", scope=WRITE)
def delete_batch_check(call: Call, arg: Any) -> dict[str, Any]:
    return _check(call, arg, "delete_batch")
