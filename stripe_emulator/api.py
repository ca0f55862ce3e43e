"""The ``/v1/`` routes: authentication, idempotency keys, ``expand[]`` and the objects.

Every ``/v1/`` request is checked in this order: the secret key (401), the parameters'
syntax (400), the idempotency key (replay, 400 ``idempotency_error`` or 409), then the
route itself. Errors are Stripe's envelope; every answer carries ``Request-Id``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from emulator_common import json_response

from .emulator import Emulator, current_request
from .ids import new_request_id
from .wire import StripeError, check_known, expand_paths, list_object, parse_params, text

IDEMPOTENCY_TTL = 24 * 60 * 60
#: Results an idempotency key remembers: the request ran (success, card error, missing id).
_REPLAYABLE = frozenset({200, 402, 404})

bp = Blueprint("api", __name__, url_prefix="/v1")


def _emulator() -> Emulator:
    emulator: Emulator = current_app.extensions["stripe_emulator"]
    return emulator


def error_response(error: StripeError) -> Response:
    return json_response(error.envelope(), error.status)


# -- what every /v1/ request goes through -------------------------------------------------------


def _api_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _authenticate(emulator: Emulator) -> str:
    key = _api_key()
    if key is None:
        raise StripeError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
            "or we can help at https://support.stripe.com/.", status=401)
    allowed = emulator.settings.api_keys
    valid = key in allowed if allowed else (key.startswith(("sk_test_", "rk_test_"))
                                             and len(key) > len("sk_test_"))
    if not valid:
        raise StripeError(f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}"
                          f"{key[-4:]}", status=401)
    return key


def _params() -> dict[str, Any]:
    source = request.form if request.method == "POST" else request.args
    return parse_params(source)


def _before_api_request() -> Response | None:
    if not request.path.startswith("/v1/") and request.path != "/v1":
        return None
    g.request_id = new_request_id()
    emulator = _emulator()
    try:
        key = _authenticate(emulator)
        g.params = _params()
    except StripeError as error:
        return error_response(error)
    idempotency_key = request.headers.get("Idempotency-Key")
    g.context_token = current_request.set((g.request_id, idempotency_key))
    if request.method != "POST" or not idempotency_key:
        return None
    scope = f"{key}:{idempotency_key}"
    with emulator.lock:
        record = emulator.idempotency.get(scope)
        if record is not None and record["created"] < emulator.now() - IDEMPOTENCY_TTL:
            del emulator.idempotency[scope]
            record = None
        if record is not None:
            if (record["method"], record["path"], record["params"]) != (
                    request.method, request.path, g.params):
                return error_response(StripeError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{idempotency_key}' if you meant to execute a different request.",
                    type="idempotency_error"))
            return json_response(record["body"], record["status"], {
                "Idempotent-Replayed": "true", "Original-Request": record["request_id"],
                "Idempotency-Key": idempotency_key})
        if scope in emulator.in_flight:
            return error_response(StripeError(
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through): " f"{idempotency_key}. Please try again later.",
                status=409, type="idempotency_error", code="idempotency_key_in_use"))
        emulator.in_flight.add(scope)
        g.idempotency_scope = scope
    return None


def _after_api_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers["Request-Id"] = request_id
    scope = g.get("idempotency_scope")
    if scope is not None and response.status_code in _REPLAYABLE:
        emulator = _emulator()
        with emulator.change():
            emulator.idempotency[scope] = {
                "method": request.method, "path": request.path, "params": g.params,
                "status": response.status_code, "body": response.get_json(),
                "request_id": request_id, "created": emulator.now()}
        response.headers["Idempotency-Key"] = request.headers["Idempotency-Key"]
    return response


def _teardown_api_request(_: BaseException | None) -> None:
    scope = g.get("idempotency_scope")
    if scope is not None:
        emulator = _emulator()
        with emulator.lock:
            emulator.in_flight.discard(scope)
    token = g.get("context_token")
    if token is not None:
        current_request.reset(token)


def _api_not_found(error: HTTPException) -> BaseResponse:
    if not request.path.startswith("/v1"):
        return error.get_response()
    return error_response(StripeError(
        f"Unrecognized request URL ({request.method}: {request.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.", status=404))


def register(app: Flask) -> None:
    """Attach the blueprint and the checks that run for every ``/v1/`` URL, known or not."""
    app.register_blueprint(bp)
    app.before_request(_before_api_request)
    app.after_request(_after_api_request)
    app.teardown_request(_teardown_api_request)
    app.register_error_handler(404, _api_not_found)
    app.register_error_handler(405, _api_not_found)


@bp.errorhandler(StripeError)
def _stripe_error(error: StripeError) -> Response:
    return error_response(error)


# -- expand[] --------------------------------------------------------------------------------


def expand(obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Replace id strings named by ``paths`` (``payment_intent.latest_charge``) with objects."""
    emulator = _emulator()
    with emulator.lock:
        for index, path in enumerate(paths):
            _expand(emulator, obj, path.split("."), path, f"expand[{index}]")
    return obj


def _expand(emulator: Emulator, node: Any, parts: list[str], path: str, param: str) -> None:
    if not parts:
        return
    key, rest = parts[0], parts[1:]
    if isinstance(node, dict) and node.get("object") == "list" and key == "data":
        for item in node["data"]:
            _expand(emulator, item, rest, path, param)
        return
    if isinstance(node, dict) and node.get("object") == "checkout.session" and key == "line_items":
        items = emulator.line_items.get(node["id"], [])
        node["line_items"] = {"object": "list", "data": items, "has_more": False,
                              "url": f"/v1/checkout/sessions/{node['id']}/line_items"}
        return
    cannot = StripeError(f"This property cannot be expanded ({path}).", param=param)
    if not isinstance(node, dict) or key not in node:
        raise cannot
    value = node[key]
    if isinstance(value, str):
        found = emulator.collection(value)
        if found is None:
            raise cannot
        target = found[0].get(value)
        if target is None:
            return
        node[key] = value = emulator.view(target)
    elif value is not None and not isinstance(value, dict):
        raise cannot
    if value is not None:
        _expand(emulator, value, rest, path, param)


def _answer(obj: dict[str, Any]) -> Response:
    return json_response(expand(obj, expand_paths(g.params)))


def _retrieve(kind: str, object_id: str) -> Response:
    check_known(g.params, ())
    return _answer(_emulator().get(kind, object_id))


def _list(kind: str, url: str, filters: tuple[str, ...] = ()) -> Response:
    params = g.params
    check_known(params, ("limit", "starting_after", "ending_before", *filters))
    chosen = {name: text(params, name) for name in filters}
    page = list_object(_emulator().listing(kind, **chosen), url, params)
    return json_response(expand(page, expand_paths(params)))


# -- checkout sessions -----------------------------------------------------------------------


@bp.post("/checkout/sessions")
def create_session() -> Response:
    return _answer(_emulator().create_session(g.params, request.host_url))


@bp.get("/checkout/sessions")
def list_sessions() -> Response:
    return _list("sessions", "/v1/checkout/sessions",
                 ("payment_intent", "status", "client_reference_id", "customer_email"))


@bp.get("/checkout/sessions/<session_id>")
def retrieve_session(session_id: str) -> Response:
    return _retrieve("sessions", session_id)


@bp.post("/checkout/sessions/<session_id>")
def update_session(session_id: str) -> Response:
    return _answer(_emulator().update_session(session_id, g.params))


@bp.post("/checkout/sessions/<session_id>/expire")
def expire_session(session_id: str) -> Response:
    check_known(g.params, ())
    return _answer(_emulator().expire_session(session_id))


@bp.get("/checkout/sessions/<session_id>/line_items")
def session_line_items(session_id: str) -> Response:
    emulator = _emulator()
    emulator.get("sessions", session_id)
    params = g.params
    check_known(params, ("limit", "starting_after", "ending_before"))
    with emulator.lock:
        items = list(emulator.line_items.get(session_id, []))
    return json_response(list_object(items, f"/v1/checkout/sessions/{session_id}/line_items",
                                      params))


# -- payments --------------------------------------------------------------------------------


@bp.get("/payment_intents/<intent_id>")
def retrieve_payment_intent(intent_id: str) -> Response:
    return _retrieve("payment_intents", intent_id)


@bp.get("/payment_intents")
def list_payment_intents() -> Response:
    return _list("payment_intents", "/v1/payment_intents")


@bp.post("/payment_intents")
def create_payment_intent() -> Response:
    return _answer(_emulator().create_intent(g.params))


@bp.post("/payment_intents/<intent_id>/confirm")
def confirm_payment_intent(intent_id: str) -> Response:
    return _answer(_emulator().confirm_intent(intent_id, g.params))


@bp.get("/payment_methods/<method_id>")
def retrieve_payment_method(method_id: str) -> Response:
    return _retrieve("payment_methods", method_id)


@bp.get("/charges/<charge_id>")
def retrieve_charge(charge_id: str) -> Response:
    return _retrieve("charges", charge_id)


@bp.get("/charges")
def list_charges() -> Response:
    return _list("charges", "/v1/charges", ("payment_intent",))


@bp.post("/refunds")
def create_refund() -> Response:
    return _answer(_emulator().create_refund(g.params))


@bp.get("/refunds")
def list_refunds() -> Response:
    return _list("refunds", "/v1/refunds", ("charge", "payment_intent"))


@bp.get("/refunds/<refund_id>")
def retrieve_refund(refund_id: str) -> Response:
    return _retrieve("refunds", refund_id)


@bp.post("/refunds/<refund_id>")
def update_refund(refund_id: str) -> Response:
    return _answer(_emulator().update_refund(refund_id, g.params))


@bp.get("/disputes/<dispute_id>")
def retrieve_dispute(dispute_id: str) -> Response:
    return _retrieve("disputes", dispute_id)


@bp.get("/disputes")
def list_disputes() -> Response:
    return _list("disputes", "/v1/disputes", ("charge", "payment_intent"))


# -- webhooks and events ---------------------------------------------------------------------


@bp.post("/webhook_endpoints")
def create_webhook_endpoint() -> Response:
    return _answer(_emulator().create_endpoint(g.params))


@bp.get("/webhook_endpoints")
def list_webhook_endpoints() -> Response:
    return _list("webhook_endpoints", "/v1/webhook_endpoints")


@bp.get("/webhook_endpoints/<endpoint_id>")
def retrieve_webhook_endpoint(endpoint_id: str) -> Response:
    return _retrieve("webhook_endpoints", endpoint_id)


@bp.post("/webhook_endpoints/<endpoint_id>")
def update_webhook_endpoint(endpoint_id: str) -> Response:
    return _answer(_emulator().update_endpoint(endpoint_id, g.params))


@bp.delete("/webhook_endpoints/<endpoint_id>")
def delete_webhook_endpoint(endpoint_id: str) -> Response:
    return json_response(_emulator().delete_endpoint(endpoint_id))


@bp.get("/events/<event_id>")
def retrieve_event(event_id: str) -> Response:
    return _retrieve("events", event_id)


@bp.get("/events")
def list_events() -> Response:
    return _list("events", "/v1/events", ("type",))
