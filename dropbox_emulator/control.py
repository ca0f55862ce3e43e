"""The control API under ``/__emulator__/``: set-up, inspection and faults (JSON in and out).

Every endpoint is a thin wrapper over an :class:`~.emulator.Emulator` method,
so tests can do the same in-process through ``app.extensions["dropbox_emulator"]``.
Errors are ``{"error": "..."}`` with 400 (bad input) or 404 (unknown name).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from .emulator import Emulator, UnknownError
from .faults import FaultSpecError
from .wire import json_response

bp = Blueprint("control", __name__, url_prefix="/__emulator__")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@bp.errorhandler(ControlError)
def _control_error(error: ControlError) -> Response:
    return json_response({"error": str(error)}, error.status)


@bp.errorhandler(UnknownError)
def _unknown(error: UnknownError) -> Response:
    return json_response({"error": str(error)}, 404)


@bp.errorhandler(FaultSpecError)
@bp.errorhandler(ValueError)
def _bad_value(error: ValueError) -> Response:
    return json_response({"error": str(error)}, 400)


def _emulator() -> Emulator:
    return current_app.extensions["dropbox_emulator"]


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ControlError("expected a JSON object body")
    return data


def _text(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name!r} must be a non-empty string")
    return value


def _required(data: dict[str, Any], name: str) -> str:
    value = _text(data, name)
    assert value is not None
    return value


@bp.post("/apps")
def add_app() -> Response:
    data = _body()
    app = _emulator().add_app(
        _required(data, "key"), _required(data, "secret"), _text(data, "name", False),
        access=data.get("access", "app_folder"), scopes=data.get("scopes"),
        redirect_uris=data.get("redirect_uris"))
    return json_response({"key": app.key, "name": app.name, "access": app.access,
                          "root": app.root, "scopes": app.scopes,
                          "redirect_uris": app.redirect_uris})


@bp.post("/accounts")
def create_account() -> Response:
    account = _emulator().create_account(_required(_body(), "email"))
    return json_response({"account_id": account.account_id, "uid": account.uid,
                          "email": account.email})


@bp.get("/accounts")
def list_accounts() -> Response:
    emulator = _emulator()
    with emulator.store.lock:
        accounts = [{"account_id": a.account_id, "uid": a.uid, "email": a.email}
                    for a in emulator.store.accounts.values()]
    return json_response({"accounts": accounts})


@bp.post("/tokens")
def issue_tokens() -> Response:
    data = _body()
    scopes = data.get("scopes")
    if scopes is not None and not (isinstance(scopes, list)
                                   and all(isinstance(s, str) for s in scopes)):
        raise ControlError("'scopes' must be a list of strings")
    issued = _emulator().issue_tokens(_required(data, "app_key"), _required(data, "email"),
                                      scopes, offline=data.get("offline", True) is not False)
    return json_response({
        "access_token": issued.access.token,
        "refresh_token": issued.refresh.token if issued.refresh else None,
        "account_id": issued.account.account_id,
        "uid": issued.account.uid,
        "scope": " ".join(issued.access.scopes),
        "expires_at": issued.access.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })


@bp.post("/tokens/expire")
def expire_tokens() -> Response:
    data = _body()
    count = _emulator().expire_access_tokens(_text(data, "access_token", False),
                                             _text(data, "email", False),
                                             _text(data, "app_key", False))
    return json_response({"expired": count})


@bp.post("/unlink")
def unlink() -> Response:
    data = _body()
    count = _emulator().unlink(_required(data, "email"), _required(data, "app_key"))
    return json_response({"revoked": count})


@bp.post("/copy-references/expire")
def expire_copy_reference() -> Response:
    _emulator().expire_copy_reference(_required(_body(), "copy_reference"))
    return json_response({"expired": True})


@bp.get("/accounts/<email>/files")
def list_files(email: str) -> Response:
    app_key = request.args.get("app_key")
    if not app_key:
        raise ControlError("the app_key query parameter is required")
    return json_response(_emulator().list_files(email, app_key))


@bp.route("/accounts/<email>/space", methods=["GET", "POST"])
def space(email: str) -> Response:
    """Read ``{"allocated", "used"}``, or set the allocation with ``{"allocated": bytes}``."""
    emulator = _emulator()
    if request.method == "POST":
        data = _body()
        if "allocated" not in data:
            raise ControlError("'allocated' is required (bytes)")
        return json_response(emulator.set_space_allocation(email, data["allocated"]))
    return json_response(emulator.space_usage(email))


@bp.get("/stats")
def stats() -> Response:
    return json_response(_emulator().stats.as_json())


@bp.delete("/stats")
def reset_stats() -> Response:
    _emulator().stats.reset()
    return json_response(_emulator().stats.as_json())


@bp.get("/faults")
def list_faults() -> Response:
    return json_response({"faults": _emulator().faults.list()})


@bp.post("/faults")
def add_faults() -> Response:
    data = _body()
    specs = data["faults"] if isinstance(data.get("faults"), list) else [data]
    emulator = _emulator()
    added = [emulator.add_fault(spec).as_json() for spec in specs if isinstance(spec, dict)]
    if len(added) != len(specs):
        raise ControlError("each fault must be a JSON object")
    return json_response({"faults": added})


@bp.delete("/faults")
def clear_faults() -> Response:
    _emulator().clear_faults()
    return json_response({"faults": []})


@bp.route("/latency", methods=["GET", "POST"])
def latency() -> Response:
    emulator = _emulator()
    if request.method == "POST":
        data = _body()
        ms = data.get("ms")
        if not isinstance(ms, int | float) or isinstance(ms, bool) or ms < 0:
            raise ControlError("'ms' must be a non-negative number")
        emulator.set_latency(float(ms), _text(data, "route", False))
    return json_response(emulator.latency.as_json())


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Response:
    """Read or change the tunables (see :class:`~.emulator.Settings`)."""
    emulator = _emulator()
    if request.method == "POST":
        data = _body()
        for name in ("max_concurrent_writes", "token_ttl", "max_copy_entries", "code_ttl"):
            if name not in data:
                continue
            value = data[name]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ControlError(f"{name!r} must be a non-negative number")
            setattr(emulator.settings, name, int(value) if name.startswith("max") else value)
        emulator.set_max_concurrent_writes(emulator.settings.max_concurrent_writes)
        if "batch_async" in data or "batch_in_progress_checks" in data:
            emulator.set_batch_mode(
                data.get("batch_async", emulator.settings.batch_async),
                data.get("batch_in_progress_checks", emulator.settings.batch_in_progress_checks))
    current = emulator.settings
    return json_response({"max_concurrent_writes": current.max_concurrent_writes,
                          "token_ttl": current.token_ttl, "code_ttl": current.code_ttl,
                          "max_copy_entries": current.max_copy_entries,
                          "max_request_bytes": current.max_request_bytes,
                          "batch_async": current.batch_async,
                          "batch_in_progress_checks": current.batch_in_progress_checks})
