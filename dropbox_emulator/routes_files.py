"""Metadata, listing, folders, delete (files and whole folders) and download."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import Response

from .calls import (
    Call,
    bool_field,
    deleted_metadata,
    int_field,
    lookup,
    need_object,
    route,
    str_field,
    write_target,
)
from .filesystem import WriteConflict, is_within, parent_path
from .wire import BadInput, RouteError, conflict_error, header_json, lookup_error

DEFAULT_LIST_LIMIT = 2000


def path_error(error: dict[str, Any]) -> dict[str, Any]:
    return {".tag": "path", "path": error}


@route("files/get_metadata", scope="files.metadata.read")
def get_metadata(call: Call, arg: Any) -> dict[str, Any]:
    path = str_field(need_object(arg), "path")
    if path == "/":
        raise BadInput("request body: path: The root folder is unsupported.")
    with call.emulator.store.lock:
        node = lookup(call, path, path_error)
        if node is None:
            raise RouteError(path_error(lookup_error("not_found")))
        return call.metadata(node)


# -- list_folder -------------------------------------------------------------------------------

def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def _decode_cursor(call: Call, cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise BadInput("request body: cursor: invalid cursor") from None
    if not isinstance(state, dict) or state.get("a") != call.account.account_id or (
            state.get("k") != call.app.key):
        raise BadInput("request body: cursor: invalid cursor")
    return state


def _list_page(call: Call, state: dict[str, Any]) -> dict[str, Any]:
    """Produce one page for a cursor state; caller holds the lock.

    ``s`` is ``None`` for the initial listing, else the sequence number after
    which changes are reported; ``u`` pins the upper end while paging.
    """
    namespace, folder, recursive = call.namespace, state["p"], state["r"]
    if folder and namespace.get(folder) is None:
        raise RouteError(path_error(lookup_error("not_found")))
    upto = state["u"] if state["u"] is not None else namespace.sequence
    if state["s"] is None:
        nodes = namespace.subtree(folder, recursive)
        if recursive and folder != call.root.lower():
            nodes.insert(0, namespace.nodes[folder])
        entries = [call.metadata(node) for node in nodes]
    else:
        try:
            changed = namespace.changed_since(state["s"], upto)
        except LookupError:
            raise RouteError({".tag": "reset"}) from None
        entries = []
        for lower, display in changed:
            inside = is_within(lower, folder) if recursive else parent_path(lower) == folder
            if not inside or lower == folder:
                continue
            node = namespace.get(lower)
            entries.append(call.metadata(node) if node is not None
                           else deleted_metadata(display[len(call.root):]))
    offset, limit = state["o"], state["l"]
    page = entries[offset:offset + limit]
    has_more = offset + limit < len(entries)
    if has_more:
        following = {**state, "u": upto, "o": offset + limit}
    else:
        following = {**state, "s": upto, "u": None, "o": 0}
    return {"entries": page, "cursor": _encode_cursor(following), "has_more": has_more}


@route("files/list_folder", scope="files.metadata.read")
def list_folder(call: Call, arg: Any) -> dict[str, Any]:
    arg = need_object(arg)
    path = str_field(arg, "path")
    recursive = bool_field(arg, "recursive")
    limit = int_field(arg, "limit", 1, 2000) or DEFAULT_LIST_LIMIT
    if path == "/":
        raise BadInput('request body: path: Specify the root folder as an empty string '
                       'rather than as "/".')
    with call.emulator.store.lock:
        if path == "":
            folder = call.root.lower()
        else:
            node = lookup(call, path, path_error)
            if node is None:
                raise RouteError(path_error(lookup_error("not_found")))
            if node.is_file:
                raise RouteError(path_error(lookup_error("not_folder")))
            folder = node.path_lower
        state = {"a": call.account.account_id, "k": call.app.key, "p": folder,
                 "r": recursive, "s": None, "u": None, "o": 0, "l": limit}
        return _list_page(call, state)


@route("files/list_folder/continue", scope="files.metadata.read")
def list_folder_continue(call: Call, arg: Any) -> dict[str, Any]:
    state = _decode_cursor(call, str_field(need_object(arg), "cursor"))
    with call.emulator.store.lock:
        return _list_page(call, state)


# -- folders and delete ------------------------------------------------------------------------

@route("files/create_folder_v2", scope="files.content.write", write=True)
def create_folder(call: Call, arg: Any) -> dict[str, Any]:
    arg = need_object(arg)
    full = write_target(call, str_field(arg, "path"), path_error)
    autorename = bool_field(arg, "autorename")
    with call.emulator.store.transaction():
        try:
            node = call.namespace.create_folder(full, autorename)
        except WriteConflict as conflict:
            raise RouteError(path_error(conflict_error(conflict.kind))) from None
        return {"metadata": call.metadata(node, tagged=False)}


def _lookup_failure(error: dict[str, Any]) -> dict[str, Any]:
    return {".tag": "path_lookup", "path_lookup": error}


def delete_one(call: Call, arg: Any) -> dict[str, Any]:
    """Delete a file or a folder with everything below it; caller holds the transaction.

    :returns: the tagged metadata of what was deleted.
    :raises RouteError: a ``DeleteError`` (``path_lookup``, ``path_write``).
    """
    arg = need_object(arg)
    path = str_field(arg, "path")
    parent_rev = arg.get("parent_rev")
    if parent_rev is not None and not isinstance(parent_rev, str):
        raise BadInput("request body: parent_rev: expected string")
    node = lookup(call, path, _lookup_failure)
    if node is None:
        raise RouteError(_lookup_failure(lookup_error("not_found")))
    if parent_rev is not None and (not node.is_file or node.rev != parent_rev):
        raise RouteError({".tag": "path_write", "path_write": conflict_error(node.kind)})
    metadata = call.metadata(node)
    call.namespace.remove(node.path_display)
    return metadata


@route("files/delete_v2", scope="files.content.write", write=True)
def delete(call: Call, arg: Any) -> dict[str, Any]:
    with call.emulator.store.transaction():
        return {"metadata": delete_one(call, arg)}


# -- download ----------------------------------------------------------------------------------

@route("files/download", style="download", scope="files.content.read")
def download(call: Call, arg: Any) -> Response:
    path = str_field(need_object(arg), "path")
    with call.emulator.store.lock:
        node = lookup(call, path, path_error)
        if node is None:
            raise RouteError(path_error(lookup_error("not_found")))
        if not node.is_file:
            raise RouteError(path_error(lookup_error("not_file")))
        metadata = call.metadata(node, tagged=False)
    # The lock is released here: blobs are immutable, so streaming needs no lock.
    return Response(
        call.emulator.blobs.iter_content(node.content_hash),
        headers={"Dropbox-API-Result": header_json(metadata), "Content-Length": str(node.size),
                 "Content-Type": "application/octet-stream"},
        direct_passthrough=True,
    )
