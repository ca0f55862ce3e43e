"""``files/upload`` and the upload-session routes.

Bodies stream from ``request.stream`` to disk in chunks, never whole in RAM.
A body over the per-request limit is drained and answered ``payload_too_large``.
Each request's ``content_hash`` (what SDK 12.2 sends automatically) is checked
against that request's body. A commit that would take the account past its space
allocation fails with ``path/insufficient_space``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import request

from .blobs import read_chunks, write_chunks
from .calls import (
    Call,
    Wrap,
    bool_field,
    need_object,
    route,
    str_field,
    union_field,
    write_target,
)
from .contenthash import ContentHasher
from .filesystem import InsufficientSpace, Node, WriteConflict
from .ids import new_session_id, parse_timestamp, utcnow
from .state import UploadSession
from .wire import BadInput, RouteError, write_error

WRITE = "files.content.write"


class _Commit:
    """A parsed ``CommitInfo``."""

    def __init__(self, call: Call, arg: dict[str, Any], wrap: Wrap) -> None:
        self.full_path = write_target(call, str_field(arg, "path"), wrap)
        self.mode, mode_value = union_field(arg, "mode", "add")
        if self.mode not in ("add", "overwrite", "update"):
            raise BadInput(f"request body: mode: unknown tag '{self.mode}'")
        self.update_rev = mode_value.get("update") if self.mode == "update" else None
        if self.mode == "update" and not isinstance(self.update_rev, str):
            raise BadInput("request body: mode: update: expected rev string")
        self.autorename = bool_field(arg, "autorename")
        self.strict_conflict = bool_field(arg, "strict_conflict")
        self.client_modified = arg.get("client_modified")
        if self.client_modified is not None:
            try:
                parse_timestamp(self.client_modified)
            except (TypeError, ValueError):
                raise BadInput("request body: client_modified: bad timestamp") from None

    def apply(self, call: Call, size: int, content_hash: str) -> Node:
        """Write the node; caller holds the transaction.

        :raises WriteConflict:
        :raises InsufficientSpace:
        """
        return call.namespace.write_file(
            self.full_path, size=size, content_hash=content_hash, now=utcnow(), mode=self.mode,
            update_rev=self.update_rev, autorename=self.autorename,
            strict_conflict=self.strict_conflict, client_modified=self.client_modified,
            limit=call.account.allocated)


def _receive_into(call: Call, path: Path, append: bool, session_hasher: ContentHasher | None
                  ) -> tuple[int, str, bool]:
    """Stream the request body into ``path``; returns ``(size, body hash, too large)``.

    ``session_hasher`` also sees the bytes; callers restore it if they reject them.
    """
    body_hasher = ContentHasher()
    hashers = [body_hasher] if session_hasher is None else [body_hasher, session_hasher]
    with path.open("ab" if append else "wb") as out:
        size, too_large = write_chunks(read_chunks(request.stream), out, hashers,
                                       call.emulator.settings.max_request_bytes)
    call.emulator.stats.record_bytes(call.account.email, size)
    return size, body_hasher.hexdigest(), too_large


def _check_body(arg: dict[str, Any], body_hash: str, too_large: bool) -> None:
    if too_large:
        raise RouteError({".tag": "payload_too_large"})
    expected = arg.get("content_hash")
    if expected is not None and expected != body_hash:
        raise RouteError({".tag": "content_hash_mismatch"})


@route("files/upload", style="upload", scope=WRITE, write=True)
def upload(call: Call, arg: Any) -> dict[str, Any]:
    arg = need_object(arg)
    session_id = new_session_id()

    def wrap(error: dict[str, Any]) -> dict[str, Any]:
        return {".tag": "path", "reason": error, "upload_session_id": session_id}

    commit = _Commit(call, arg, wrap)
    emulator = call.emulator
    temp = emulator.blobs.new_temp()
    hasher = ContentHasher()
    try:
        size, body_hash, too_large = _receive_into(call, temp, False, hasher)
        _check_body(arg, body_hash, too_large)
    except RouteError:
        emulator.blobs.discard(temp)
        raise
    with emulator.store.transaction():
        try:
            node = commit.apply(call, size, body_hash)
        except (WriteConflict, InsufficientSpace) as failure:
            # Dropbox keeps the bytes in an upload session so the commit can be retried.
            emulator.store.sessions[session_id] = UploadSession(
                session_id, call.account.account_id, call.app.key, temp, size, False, hasher)
            raise RouteError(wrap(write_error(failure))) from None
        emulator.blobs.commit(temp, body_hash)
        return call.metadata(node, tagged=False)


@route("files/upload_session/start", style="upload", scope=WRITE)
def session_start(call: Call, arg: Any) -> dict[str, Any]:
    arg = need_object(arg)
    close = bool_field(arg, "close")
    session_type = arg.get("session_type")
    if session_type not in (None, "sequential", {".tag": "sequential"}):
        raise BadInput("request body: session_type: only sequential sessions are emulated")
    emulator = call.emulator
    session = UploadSession(new_session_id(), call.account.account_id, call.app.key,
                            emulator.blobs.new_temp())
    try:
        size, body_hash, too_large = _receive_into(call, session.path, False, session.hasher)
        _check_body(arg, body_hash, too_large)
    except RouteError:
        emulator.blobs.discard(session.path)
        raise
    session.offset, session.closed = size, close
    with emulator.store.lock:
        emulator.store.sessions[session.session_id] = session
    return {"session_id": session.session_id}


def _session(call: Call, cursor: Any, wrap: Wrap) -> tuple[UploadSession, int]:
    if not isinstance(cursor, dict):
        raise BadInput("request body: cursor: missing required field")
    session_id = str_field(cursor, "session_id")
    offset = cursor.get("offset")
    if not isinstance(offset, int) or offset < 0:
        raise BadInput("request body: cursor: offset: expected non-negative integer")
    with call.emulator.store.lock:
        session = call.emulator.store.sessions.get(session_id)
    if session is None or session.account_id != call.account.account_id:
        raise RouteError(wrap({".tag": "not_found"}))
    return session, offset


def _append(call: Call, session: UploadSession, offset: int, arg: dict[str, Any],
            wrap: Wrap, finishing: bool) -> None:
    """Append this request's body at ``offset``; caller holds ``session.guard``."""
    if session.closed and not finishing:
        raise RouteError(wrap({".tag": "closed"}))
    if offset != session.offset:
        raise RouteError(wrap({".tag": "incorrect_offset", "correct_offset": session.offset}))
    before = session.hasher.copy()
    size, body_hash, too_large = _receive_into(call, session.path, True, session.hasher)
    try:
        if size and session.closed:
            raise RouteError(wrap({".tag": "closed"}))
        _check_body(arg, body_hash, too_large)
    except RouteError:
        with session.path.open("r+b") as out:
            out.truncate(session.offset)
        session.hasher = before
        raise
    session.offset += size


@route("files/upload_session/append_v2", style="upload", scope=WRITE)
def session_append(call: Call, arg: Any) -> None:
    arg = need_object(arg)

    def wrap(error: dict[str, Any]) -> dict[str, Any]:
        return error

    session, offset = _session(call, arg.get("cursor"), wrap)
    with session.guard:
        _append(call, session, offset, arg, wrap, finishing=False)
        session.closed = bool_field(arg, "close")
    return None


@route("files/upload_session/finish", style="upload", scope=WRITE, write=True)
def session_finish(call: Call, arg: Any) -> dict[str, Any]:
    arg = need_object(arg)

    def lookup_failed(error: dict[str, Any]) -> dict[str, Any]:
        if error.get(".tag") in ("payload_too_large", "content_hash_mismatch"):
            return error
        return {".tag": "lookup_failed", "lookup_failed": error}

    def path_failed(error: dict[str, Any]) -> dict[str, Any]:
        return {".tag": "path", "path": error}

    commit_arg = arg.get("commit")
    if not isinstance(commit_arg, dict):
        raise BadInput("request body: commit: missing required field")
    commit = _Commit(call, commit_arg, path_failed)
    session, offset = _session(call, arg.get("cursor"), lookup_failed)
    emulator = call.emulator
    with session.guard:
        _append(call, session, offset, arg, lookup_failed, finishing=True)
        total_hash = session.hasher.hexdigest()
        with emulator.store.transaction():
            if emulator.store.sessions.get(session.session_id) is not session:
                raise RouteError(lookup_failed({".tag": "not_found"}))
            try:
                node = commit.apply(call, session.offset, total_hash)
            except (WriteConflict, InsufficientSpace) as failure:
                raise RouteError(path_failed(write_error(failure))) from None
            del emulator.store.sessions[session.session_id]
            emulator.blobs.commit(session.path, total_hash)
            return call.metadata(node, tagged=False)
