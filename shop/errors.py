"""Error pages for browsers and JSON for JSON clients, registered in one place."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from shop.extensions import db

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    410: "Gone",
    413: "Too large",
    416: "Range not satisfiable",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def wants_json() -> bool:
    """True when the client prefers JSON to HTML (our polling script, API clients)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and (
        request.accept_mimetypes["application/json"] > request.accept_mimetypes["text/html"]
    )


def error_response(code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error as an HTML page, or as ``{"error", "message", "status"}`` for JSON clients."""
    if request_ctx.url_adapter is None:
        # The request named a host we do not serve (TRUSTED_HOSTS): no URL can be built for it,
        # so no page either.
        response = make_response(message)
        response.mimetype = "text/plain"
    elif wants_json():
        response = jsonify(error=TITLES.get(code, "Error"), message=message, status=code)
    else:
        response = make_response(
            render_template("errors/error.html", code=code, title=TITLES.get(code, "Error"), message=message)
        )
    response.status_code = code
    response.headers.update(headers or {})
    return response


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        return error_response(
            400, "This form has expired or was not sent from this site. Go back, reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        if exc.code is None or exc.code < 400:
            return exc
        if exc.code >= 500:
            db.session.rollback()
        headers: dict[str, str] = {}
        length = getattr(exc, "length", None)
        if exc.code == 416 and length is not None:
            headers["Content-Range"] = f"bytes */{length}"
        valid_methods = getattr(exc, "valid_methods", None)
        if exc.code == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        retry_after = getattr(exc, "retry_after", None)
        if exc.code in (429, 503) and retry_after:
            headers["Retry-After"] = str(retry_after)
        return error_response(exc.code, exc.description or TITLES.get(exc.code, ""), headers)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        db.session.rollback()
        # The URL rule, not the path: the path of an order link is its secret.
        rule = request.url_rule.rule if request.url_rule else "(no route)"
        log.exception("unhandled error on %s %s", request.method, rule)
        return error_response(500, InternalServerError.description)
