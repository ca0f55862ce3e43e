"""The control API under ``/__emulator__/``: time, webhook faults, disputes, Connect accounts
and funds (JSON in and out).

Each endpoint is a thin wrapper over an :class:`~.emulator.Emulator` or
:class:`~.webhooks.Dispatcher` method, so tests can do the same in-process through
``app.extensions["stripe_emulator"]``. Errors are ``{"error": "..."}`` with 400 (bad
input) or 404 (unknown id).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from emulator_common import json_response

from .emulator import AuthenticationNotPending, Emulator, SessionNotPayable
from .wire import StripeError

bp = Blueprint("control", __name__, url_prefix="/__emulator__")


class ControlError(Exception):
    pass


@bp.errorhandler(ControlError)
@bp.errorhandler(ValueError)
def _bad_input(error: Exception) -> Response:
    return json_response({"error": str(error)}, 400)


@bp.errorhandler(StripeError)
def _stripe_error(error: StripeError) -> Response:
    return json_response({"error": error.message}, error.status)


def _emulator() -> Emulator:
    emulator: Emulator = current_app.extensions["stripe_emulator"]
    return emulator


def _body() -> dict[str, Any]:
    if not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ControlError("expected a JSON object body")
    return data


def _count(data: dict[str, Any], name: str = "count", default: int = 1) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ControlError(f"{name!r} must be a non-negative integer")
    return value


def _number(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ControlError(f"{name!r} must be a non-negative number")
    return float(value)


def _string(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{name!r} must be a non-empty string")
    return value


@bp.get("/")
def summary() -> Response:
    emulator = _emulator()
    return json_response({**emulator.summary(), "webhooks": emulator.webhooks.status()})


@bp.post("/reset")
def reset() -> Response:
    _emulator().reset()
    return json_response({"reset": True})


# -- time ------------------------------------------------------------------------------------


@bp.get("/clock")
def clock() -> Response:
    emulator = _emulator()
    return json_response({"now": emulator.now(), "offset": emulator.clock.offset})


@bp.post("/clock/advance")
def advance_clock() -> Response:
    emulator = _emulator()
    changed = emulator.advance_clock(_number(_body(), "seconds"))
    return json_response({"now": emulator.now(), "offset": emulator.clock.offset, **changed})


# -- payments and disputes ---------------------------------------------------------------------


@bp.post("/checkout/sessions/<session_id>/pay")
def pay(session_id: str) -> Response:
    """Pay as the hosted page would: ``{"card": "4242424242424242"}`` or
    ``{"iban": "DE89370400440532013000", "name": "..."}`` (SEPA Debit); ``{}`` completes a
    session of amount 0."""
    data = _body()
    emulator = _emulator()
    try:
        if "iban" in data:
            name = data.get("name")
            if name is not None and not isinstance(name, str):
                raise ControlError("'name' must be a string")
            result = emulator.pay_sepa(session_id, _string(data, "iban"), name)
        else:
            card = data.get("card", "")
            if not isinstance(card, str):
                raise ControlError("'card' must be a string")
            result = emulator.pay(session_id, card)
    except SessionNotPayable as error:
        raise ControlError(f"session {session_id} is {error.session['status']}") from None
    return json_response({"paid": result.status == "paid", "status": result.status,
                          "redirect": result.redirect, "error": result.error,
                          "code": result.code, "decline_code": result.decline_code})


@bp.post("/checkout/sessions/<session_id>/authenticate")
def authenticate(session_id: str) -> Response:
    """Answer the 3-D Secure challenge: ``{"outcome": "complete"}`` or ``"fail"``."""
    outcome = _string(_body(), "outcome")
    if outcome not in ("complete", "fail"):
        raise ControlError("'outcome' must be 'complete' or 'fail'")
    try:
        result = _emulator().authenticate(session_id, outcome == "complete")
    except SessionNotPayable as error:
        raise ControlError(f"session {session_id} is {error.session['status']}") from None
    except AuthenticationNotPending:
        raise ControlError(f"session {session_id} is not waiting for authentication") from None
    return json_response({"paid": result.status == "paid", "status": result.status,
                          "redirect": result.redirect, "error": result.error,
                          "code": result.code, "decline_code": result.decline_code})


@bp.post("/async_delay")
def async_delay() -> Response:
    """``{"seconds": 2}``: how long (emulator clock) later delayed payments settle."""
    emulator = _emulator()
    emulator.settings.async_delay = _number(_body(), "seconds")
    return json_response({"async_delay": emulator.settings.async_delay})


@bp.post("/disputes")
def open_dispute() -> Response:
    """``{"charge": "ch_...", "reason"?: "fraudulent", "status"?: "needs_response"}``;
    ``status`` ``warning_needs_response`` opens an inquiry, ``prevented`` a prevented one."""
    data = _body()
    reason = data.get("reason", "fraudulent")
    status = data.get("status", "needs_response")
    if not isinstance(reason, str) or not isinstance(status, str):
        raise ControlError("'reason' and 'status' must be strings")
    return json_response(_emulator().open_dispute(_string(data, "charge"), reason, status))


@bp.post("/disputes/<dispute_id>/status")
def move_dispute(dispute_id: str) -> Response:
    """``{"status": "under_review"}``: the dispute's next step."""
    return json_response(_emulator().move_dispute(dispute_id, _string(_body(), "status")))


@bp.post("/disputes/<dispute_id>/close")
def close_dispute(dispute_id: str) -> Response:
    return json_response(_emulator().close_dispute(dispute_id, _string(_body(), "outcome")))


@bp.post("/refunds/<refund_id>/fail")
def fail_refund(refund_id: str) -> Response:
    return json_response(_emulator().fail_refund(refund_id))


# -- Connect ---------------------------------------------------------------------------------


@bp.post("/accounts/<account_id>/onboard")
def onboard(account_id: str) -> Response:
    """Complete the account's onboarding as the hosted page's button does."""
    return json_response(_emulator().complete_onboarding(account_id))


@bp.post("/accounts/<account_id>/restrict")
def restrict(account_id: str) -> Response:
    """Stripe needs more information: payouts and transfers stop (``account.updated``)."""
    return json_response(_emulator().restrict_account(account_id))


@bp.get("/accounts/<account_id>/transfers")
def account_transfers(account_id: str) -> Response:
    """Every transfer to the account, newest first, and their total net of reversals."""
    emulator = _emulator()
    emulator.get("accounts", account_id)
    transfers = emulator.transfers_to(account_id)
    return json_response({"transfers": transfers, "total": sum(
        t["amount"] - t["amount_reversed"] for t in transfers),
        "balance": emulator.balance(account_id)})


@bp.post("/balance/available")
def funds_available() -> Response:
    """Every pending balance transaction becomes available now."""
    return json_response({"made_available": _emulator().make_funds_available()})


# -- webhooks --------------------------------------------------------------------------------


@bp.post("/webhook_endpoints")
def add_endpoint() -> Response:
    """``{"url": ..., "secret": "whsec_..." (optional), "enabled_events": [...] (optional),
    "connect": true (optional: the events of connected accounts)}``."""
    data = _body()
    events = data.get("enabled_events")
    if events is not None and not (isinstance(events, list)
                                   and all(isinstance(e, str) for e in events)):
        raise ControlError("'enabled_events' must be a list of strings")
    secret = data.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ControlError("'secret' must be a string")
    connect = data.get("connect", False)
    if not isinstance(connect, bool):
        raise ControlError("'connect' must be true or false")
    return json_response(_emulator().add_endpoint(_string(data, "url"), secret, events,
                                                  connect=connect))


@bp.get("/webhooks")
def webhook_status() -> Response:
    return json_response(_emulator().webhooks.status())


@bp.post("/webhooks/delay")
def delay() -> Response:
    """``{"seconds": 5}`` delays every next event; ``"count": n`` only the next n."""
    data = _body()
    seconds = _number(data, "seconds")
    count = _count(data, default=0) if "count" in data else None
    controls = _emulator().webhooks.configure(delay_seconds=seconds, delay_remaining=count)
    return json_response(controls.as_json())


@bp.post("/webhooks/duplicate")
def duplicate() -> Response:
    """``{"count": n}``: deliver each of the next n events twice."""
    controls = _emulator().webhooks.configure(duplicate_remaining=_count(_body()))
    return json_response(controls.as_json())


@bp.post("/webhooks/reorder")
def reorder() -> Response:
    """``{"count": n}``: hold the next n events, then send them newest first."""
    count = _count(_body(), default=2)
    controls = _emulator().webhooks.configure(hold_remaining=count)
    return json_response(controls.as_json())


@bp.post("/webhooks/release")
def release() -> Response:
    return json_response({"released": _emulator().webhooks.release()})


@bp.post("/webhooks/fail")
def fail() -> Response:
    """``{"count": n, "status": 500}``: the next n attempts fail without reaching the
    endpoint (``status`` 0: logged as not sent); each is retried like a real failure."""
    data = _body()
    status = _count(data, "status", 500)
    if status and not 100 <= status <= 599:
        raise ControlError("'status' must be 0 or an HTTP status code")
    controls = _emulator().webhooks.configure(fail_remaining=_count(data), fail_status=status)
    return json_response(controls.as_json())


@bp.get("/webhooks/deliveries")
def deliveries() -> Response:
    return json_response({"deliveries": _emulator().webhooks.deliveries()})


@bp.post("/webhooks/wait")
def wait() -> Response:
    """``{"timeout": 10}``: answer once nothing is pending or in flight (``idle``)."""
    data = _body()
    timeout = _number(data, "timeout") if "timeout" in data else 10.0
    return json_response({"idle": _emulator().webhooks.wait_idle(timeout)})
