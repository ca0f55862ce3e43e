"""``/oauth2/authorize`` (a plain HTML page) and ``POST /oauth2/token``."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request

from .emulator import Emulator
from .ids import utcnow
from .state import ALL_SCOPES, App, AuthCode
from .tokens import (
    TokenRequestError,
    check_client,
    create_code,
    exchange_code,
    refresh_access,
)
from .wire import json_response

bp = Blueprint("oauth", __name__)

#: Query parameters of the authorize URL carried through the form as hidden fields.
AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "token_access_type",
                    "scope", "include_granted_scopes", "code_challenge", "code_challenge_method",
                    "force_reapprove", "locale")
DENIED = "The user chose not to give your app access to their Dropbox account."


class AuthorizeProblem(Exception):
    """The request cannot be sent back to the app (bad client or redirect URI)."""


def _emulator() -> Emulator:
    return current_app.extensions["dropbox_emulator"]


def _validate(params: dict[str, str]) -> tuple[App, list[str]]:
    """Check an authorize request; returns the app and the scopes to grant.

    :raises AuthorizeProblem: with a message for the error page.
    """
    emulator = _emulator()
    if params.get("response_type") != "code":
        raise AuthorizeProblem('response_type must be "code".')
    with emulator.store.lock:
        app = emulator.store.apps.get(params.get("client_id", ""))
    if app is None:
        raise AuthorizeProblem("Invalid client_id: this app does not exist.")
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is not None:
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise AuthorizeProblem("Invalid redirect_uri: it must be an absolute http(s) URL.")
        if app.redirect_uris and redirect_uri not in app.redirect_uris:
            raise AuthorizeProblem("Invalid redirect_uri: it is not registered for this app.")
    if params.get("code_challenge_method", "S256") not in ("S256", "plain"):
        raise AuthorizeProblem("Invalid code_challenge_method.")
    requested = params.get("scope", "").split()
    unknown = [scope for scope in requested if scope not in ALL_SCOPES]
    if unknown:
        raise AuthorizeProblem(f"Invalid scope: {' '.join(unknown)}")
    if not set(requested) <= set(app.scopes):
        raise AuthorizeProblem("The app has not been granted the requested scopes.")
    return app, requested or list(app.scopes)


def _back_to_app(redirect_uri: str, extra: dict[str, str]) -> Response:
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return redirect(urlunsplit(parts._replace(query=urlencode(query))), 302)


@bp.route("/oauth2/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    source = request.values if request.method == "POST" else request.args
    params = {name: source[name] for name in AUTHORIZE_PARAMS if source.get(name)}
    try:
        app, scopes = _validate(params)
    except AuthorizeProblem as problem:
        return render_template("dropbox_emulator/oauth_error.html", message=str(problem)), 400
    if request.method == "GET":
        return render_template("dropbox_emulator/authorize.html", app=app, scopes=scopes,
                               params=params, error=None), 200
    decision = request.form.get("decision")
    redirect_uri = params.get("redirect_uri")
    state = {"state": params["state"]} if "state" in params else {}
    if decision == "deny":
        if redirect_uri is None:
            return render_template("dropbox_emulator/oauth_error.html", message=DENIED), 200
        return _back_to_app(redirect_uri, {"error": "access_denied",
                                           "error_description": DENIED, **state})
    email = request.form.get("email", "").strip()
    if decision != "allow" or "@" not in email:
        error = "Enter an email address and choose Allow or Deny."
        return render_template("dropbox_emulator/authorize.html", app=app, scopes=scopes,
                               params=params, error=error), 400
    return _grant(app, scopes, params, email, redirect_uri, state)


def _grant(app: App, scopes: list[str], params: dict[str, str], email: str,
           redirect_uri: str | None, state: dict[str, str]) -> Response | tuple[str, int]:
    emulator = _emulator()
    account = emulator.create_account(email)
    if params.get("include_granted_scopes") == "user":
        with emulator.store.lock:
            previous = emulator.store.links.get((account.account_id, app.key), set())
        scopes = sorted(set(scopes) | previous)
    code = create_code(emulator.store, AuthCode(
        "", app.key, account.account_id, redirect_uri, scopes,
        params.get("token_access_type") == "offline",
        utcnow() + timedelta(seconds=emulator.settings.code_ttl),
        params.get("code_challenge"), params.get("code_challenge_method", "S256")))
    if redirect_uri is None:
        return render_template("dropbox_emulator/oauth_code.html", app=app, code=code), 200
    return _back_to_app(redirect_uri, {"code": code, **state})


def _client_credentials() -> tuple[str, str | None]:
    """``(client_id, client_secret)`` from HTTP Basic or the form."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TokenRequestError("invalid_client", "malformed Basic credentials") from None
        key, _, secret = decoded.partition(":")
        return key, secret
    return request.form.get("client_id", ""), request.form.get("client_secret")


@bp.post("/oauth2/token")
def token() -> Response:
    emulator = _emulator()
    emulator.stats.record_call("oauth2/token", None)
    fault = emulator.faults.take("oauth2/token", None)
    if fault is not None:
        return fault.response()
    emulator.sleep_for("oauth2/token")
    try:
        body = _token_body(emulator)
    except TokenRequestError as problem:
        return json_response({"error": problem.error, "error_description": problem.description},
                             400)
    return json_response(body)


def _token_body(emulator: Emulator) -> dict[str, Any]:
    client_id, secret = _client_credentials()
    with emulator.store.lock:
        app = check_client(emulator.store.apps.get(client_id), secret)
    grant_type = request.form.get("grant_type")
    ttl = emulator.settings.token_ttl
    if grant_type == "authorization_code":
        issued = exchange_code(
            emulator.store, app, request.form.get("code", ""), secret=secret,
            redirect_uri=request.form.get("redirect_uri"),
            code_verifier=request.form.get("code_verifier"), ttl=ttl)
        return issued.as_json(utcnow())
    if grant_type == "refresh_token":
        scope = request.form.get("scope")
        access = refresh_access(emulator.store, app, request.form.get("refresh_token", ""),
                                secret=secret, scopes=scope.split() if scope else None, ttl=ttl)
        return {"access_token": access.token, "token_type": "bearer",
                "expires_in": int(ttl), "scope": " ".join(access.scopes)}
    raise TokenRequestError("unsupported_grant_type", f"unsupported grant_type {grant_type!r}")
