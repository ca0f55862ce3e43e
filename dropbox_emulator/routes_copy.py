"""Copy references and save_url: getting content into an account without uploading it."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from .calls import Call, lookup, need_object, route, str_field, write_target
from .filesystem import InsufficientSpace, WriteConflict
from .ids import format_timestamp, new_copy_reference, new_job_id, utcnow
from .save_url import fetch_url
from .state import CopyReference, SaveUrlJob
from .wire import RouteError, conflict_error, lookup_error, write_error

WRITE = "files.content.write"
#: "Far enough in the future so that expiration is effectively not an issue."
REFERENCE_LIFETIME = timedelta(days=365 * 20)


def path_error(error: dict[str, Any]) -> dict[str, Any]:
    return {".tag": "path", "path": error}


@route("files/copy_reference/get", scope=WRITE)
def copy_reference_get(call: Call, arg: Any) -> dict[str, Any]:
    path = str_field(need_object(arg), "path")
    store = call.emulator.store
    with store.transaction():
        node = lookup(call, path, path_error)
        if node is None:
            raise RouteError(path_error(lookup_error("not_found")))
        reference = CopyReference(new_copy_reference(), call.account.account_id, call.app.key,
                                  node.id)
        store.copy_references[reference.reference] = reference
        return {"metadata": call.metadata(node), "copy_reference": reference.reference,
                "expires": format_timestamp(utcnow() + REFERENCE_LIFETIME)}


@route("files/copy_reference/save", scope=WRITE, write=True)
def copy_reference_save(call: Call, arg: Any) -> dict[str, Any]:
    """Check in the documented order, then deep-copy metadata (content is shared)."""
    arg = need_object(arg)
    reference_value = str_field(arg, "copy_reference")
    destination = write_target(call, str_field(arg, "path"), path_error)
    emulator = call.emulator
    store = emulator.store
    with store.transaction():
        reference = store.copy_references.get(reference_value)
        if reference is None or reference.expired:
            raise RouteError({".tag": "invalid_copy_reference"})
        if reference.app_key != call.app.key or not store.is_linked(
                reference.account_id, reference.app_key):
            raise RouteError({".tag": "no_permission"})
        source_account = store.accounts[reference.account_id]
        source_root = store.apps[reference.app_key].root.lower()
        source = source_account.namespace.get_by_id(reference.node_id)
        if source is None or not source.path_lower.startswith(source_root + "/"):
            raise RouteError({".tag": "not_found"})
        below = [] if source.is_file else source_account.namespace.subtree(source.path_lower)
        if len(below) > emulator.settings.max_copy_entries:
            raise RouteError({".tag": "too_many_files"})
        try:
            copied = call.namespace.paste(source, below, destination, utcnow(),
                                          limit=call.account.allocated)
        except (WriteConflict, InsufficientSpace) as failure:
            raise RouteError(path_error(write_error(failure))) from None
        return {"metadata": call.metadata(copied)}


@route("files/save_url", scope=WRITE)
def save_url(call: Call, arg: Any) -> dict[str, Any]:
    arg = need_object(arg)
    destination = write_target(call, str_field(arg, "path"), path_error)
    url = str_field(arg, "url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RouteError({".tag": "invalid_url"})
    store = call.emulator.store
    with store.lock:
        namespace = call.namespace
        if namespace.file_ancestor(destination):
            raise RouteError(path_error(conflict_error("file_ancestor")))
        existing = namespace.get(destination)
        if existing is not None:
            raise RouteError(path_error(conflict_error(existing.kind)))
        job = SaveUrlJob(new_job_id(), call.account.account_id)
        store.jobs[job.job_id] = job
    worker = threading.Thread(target=fetch_url, name=f"save_url {job.job_id}", daemon=True,
                              args=(call.emulator, job, call, destination, url))
    worker.start()
    return {".tag": "async_job_id", "async_job_id": job.job_id}


@route("files/save_url/check_job_status", scope=WRITE)
def save_url_check(call: Call, arg: Any) -> dict[str, Any]:
    job_id = str_field(need_object(arg), "async_job_id")
    with call.emulator.store.lock:
        job = call.emulator.store.jobs.get(job_id)
        if job is None or job.account_id != call.account.account_id:
            raise RouteError({".tag": "invalid_async_job_id"})
        return dict(job.status)
