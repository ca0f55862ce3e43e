"""What every ``/v1/`` request goes through: authentication, ``Stripe-Version``, idempotency
keys, ``expand[]`` and the answer's shape. The routes themselves are in :mod:`.routes`.

Every ``/v1/`` request is checked in this order: the secret key (401), ``Stripe-Version``
(400 for a version Stripe never released), the parameters' syntax (400), the idempotency key
(replay, 400 ``idempotency_error`` or 409), then the route itself. An idempotency key stores
the route's answer, whatever it is, unless the route refused its parameters
(:attr:`StripeError.validation`). Errors are Stripe's envelope; every answer carries
``Request-Id`` and ``Stripe-Version`` (the request's, else the account's), and objects are
shown as that version shows them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from emulator_common import json_response

from .accounts import PLATFORM_ACCOUNT
from .emulator import Emulator, current_request
from .ids import new_request_id
from .versions import check_version, render
from .wire import StripeError, check_known, expand_paths, list_object, no_such, parse_params, text

IDEMPOTENCY_TTL = 24 * 60 * 60

bp = Blueprint("api", __name__, url_prefix="/v1")


def current_emulator() -> Emulator:
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


#: Requests that may act on a connected account (``Stripe-Account``); the emulator answers
#: other POSTs made for a connected account with a 400 naming what it does not emulate, and
#: other reads show that the account has none of the platform's objects.
CONNECTED_WRITES: frozenset[str] = frozenset()


def _stripe_account(emulator: Emulator) -> str | None:
    header = request.headers.get("Stripe-Account")
    if header is None:
        return None
    account = header.strip()
    if account == PLATFORM_ACCOUNT:
        return None
    emulator.connected_account(account)
    if request.method != "GET" and request.endpoint not in CONNECTED_WRITES:
        raise StripeError(f"The Stripe emulator does not emulate {request.method} "
                          f"{request.path} on a connected account (Stripe-Account header).")
    return account


def _before_api_request() -> Response | None:
    if not request.path.startswith("/v1/") and request.path != "/v1":
        return None
    g.request_id = new_request_id()
    emulator = current_emulator()
    g.api_version = emulator.settings.api_version
    try:
        key = _authenticate(emulator)
        requested = request.headers.get("Stripe-Version")
        if requested is not None:
            g.api_version = check_version(requested.strip())
        g.params = _params()
        g.stripe_account = _stripe_account(emulator)
    except StripeError as error:
        return error_response(error)
    idempotency_key = request.headers.get("Idempotency-Key")
    g.context_token = current_request.set((g.request_id, idempotency_key))
    if request.method != "POST" or not idempotency_key:
        return None
    scope = f"{key}:{g.stripe_account or ''}:{idempotency_key}"
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
    # The version the answer is in: the request's Stripe-Version, else the account's.
    response.headers["Stripe-Version"] = g.get("api_version") or current_emulator().settings.api_version
    scope = g.get("idempotency_scope")
    # Stripe keeps whatever the request produced once it began executing (errors and 500s
    # included), but not a refusal of its parameters.
    if scope is not None and response.is_json and not g.get("validation_error", False):
        emulator = current_emulator()
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
        emulator = current_emulator()
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
    g.validation_error = error.validation
    return error_response(error)


# -- expand[] --------------------------------------------------------------------------------


def expand(obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Replace id strings named by ``paths`` (``payment_intent.latest_charge``) with objects."""
    emulator = current_emulator()
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
    cannot = StripeError(f"This property cannot be expanded ({path}).", param=param,
                         validation=True)
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


def _shown(obj: dict[str, Any]) -> Response:
    """The answer as the request's API version shows it."""
    return json_response(render(obj, g.api_version))


def answer(obj: dict[str, Any]) -> Response:
    return _shown(expand(obj, expand_paths(g.params)))


def acting_account() -> str | None:
    """The connected account a ``Stripe-Account`` header acts as (``None``: the platform)."""
    account: str | None = g.get("stripe_account")
    return account


def retrieve(kind: str, object_id: str) -> Response:
    """An object of the account the request acts as; another account's is a 404."""
    check_known(g.params, ())
    emulator = current_emulator()
    found = emulator.get(kind, object_id)
    if emulator.owner(kind, found) != acting_account():
        raise no_such(found["object"], object_id)
    return answer(found)


def list_page(kind: str, url: str, filters: tuple[str, ...] = (),
              items: list[dict[str, Any]] | None = None) -> Response:
    """One page of the account's objects of ``kind`` (or of ``items``)."""
    params = g.params
    check_known(params, ("limit", "starting_after", "ending_before", *filters))
    chosen = {name: text(params, name) for name in filters}
    emulator = current_emulator()
    account = acting_account()
    with emulator.lock:
        found = items if items is not None else emulator.listing(kind, **chosen)
        mine = [item for item in found if emulator.owner(kind, item) == account]
    page = list_object(mine, url, params)
    return _shown(expand(page, expand_paths(params)))
