"""``POST /2/<route>``: authentication, faults, latency, write limits, dispatch.

The order a call goes through: route lookup (unknown -> 400 text), bearer
token (missing/malformed -> 400 text; unknown/revoked -> 401
``invalid_access_token``; expired -> 401 ``expired_access_token``), scope
(401 ``missing_scope``), stats, an armed fault, the argument, the
per-namespace write slot (write routes), latency, the handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, current_app, request

from . import (  # noqa: F401 (register)
    routes_account,
    routes_copy,
    routes_files,
    routes_relocate,
    routes_upload,
)
from .blobs import read_chunks
from .calls import REGISTRY, Call, Route
from .emulator import Emulator
from .ids import utcnow
from .wire import AuthFailure, BadInput, DropboxWireError, TooManyWrites, json_response

bp = Blueprint("api", __name__)

_TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
_CORS_HACK = "text/plain; charset=dropbox-cors-hack"


def current_emulator() -> Emulator:
    return current_app.extensions["dropbox_emulator"]


@bp.post("/2/<path:name>")
def call_route(name: str) -> Response:
    emulator = current_emulator()
    found = REGISTRY.get(name)
    try:
        if found is None:
            raise BadInput("Unknown API function (not emulated by dropbox_emulator).")
        call = _authenticate(emulator, found)
        fault = emulator.faults.take(name, call.account.email)
        if fault is not None:
            return fault.response()
        arg = _argument(found)
        with _write_slot(emulator, found, call):
            emulator.sleep_for(name)
            result = found.handler(call, arg)
    except DropboxWireError as error:
        return error.response(name)
    finally:
        if found is None or found.style == "upload":
            _drain()
    if isinstance(result, Response):
        return result
    return json_response(result)


def _drain() -> None:
    """Read what is left of the body so the client can finish sending before we answer."""
    for _ in read_chunks(request.stream):
        pass


def _authenticate(emulator: Emulator, found: Route) -> Call:
    header = request.headers.get("Authorization")
    if header is None:
        raise BadInput('Must provide HTTP header "Authorization" or URL parameter "authorization".')
    scheme, _, value = header.partition(" ")
    if scheme != "Bearer" or not value:
        raise BadInput(f'Invalid authorization value in HTTP header "Authorization": '
                       f'"{header[:40]}".  Expecting "Bearer <oauth2-access-token>".')
    if not _TOKEN.match(value):
        raise BadInput("The given OAuth 2 access token is malformed.")
    store = emulator.store
    with store.lock:
        token = store.access_tokens.get(value)
        # Calls count even when refused, so a benchmark sees retries after a 401.
        owner = store.accounts[token.account_id].email if token is not None else None
        emulator.stats.record_call(found.name, owner)
        if token is None or token.revoked:
            raise AuthFailure({".tag": "invalid_access_token"})
        if token.expires_at <= utcnow():
            raise AuthFailure({".tag": "expired_access_token"})
        if found.scope is not None and found.scope not in token.scopes:
            raise AuthFailure({".tag": "missing_scope", "required_scope": found.scope})
        return Call(emulator, found.name, store.accounts[token.account_id],
                    store.apps[token.app_key], token)


def _argument(found: Route) -> Any:
    if found.style == "rpc":
        content_type = request.headers.get("Content-Type", "")
        body = request.get_data(cache=False)
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and content_type != _CORS_HACK and (
                body or content_type):
            raise BadInput(f'Bad HTTP "Content-Type" header: "{content_type}".  Expecting one of '
                           f'"application/json", "{_CORS_HACK}".')
        source, raw = "request body", body.decode("utf-8", "replace") or "null"
    else:
        if found.style == "upload":
            content_type = request.headers.get("Content-Type", "")
            if content_type not in ("application/octet-stream", _CORS_HACK):
                raise BadInput(f'Bad HTTP "Content-Type" header: "{content_type}".  Expecting '
                               f'one of "application/octet-stream", "{_CORS_HACK}".')
        header_arg = request.headers.get("Dropbox-API-Arg")
        query_arg = request.args.get("arg")
        if header_arg is None and query_arg is None:
            raise BadInput('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".')
        source = 'HTTP header "Dropbox-API-Arg"' if header_arg is not None else 'URL parameter "arg"'
        raw = header_arg if header_arg is not None else query_arg or ""
    try:
        return json.loads(raw)
    except ValueError:
        raise BadInput(f"{source}: could not decode input as JSON") from None


@contextmanager
def _write_slot(emulator: Emulator, found: Route, call: Call) -> Iterator[None]:
    if not found.write:
        yield
        return
    namespace = call.account.account_id
    if not emulator.gate.enter(namespace):
        raise TooManyWrites()
    try:
        yield
    finally:
        emulator.gate.leave(namespace)
