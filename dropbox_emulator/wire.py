"""Responses and errors exactly as the Dropbox API v2 puts them on the wire.

The SDK is strict: JSON responses must carry exactly ``Content-Type:
application/json`` (it compares for equality), 400 errors are plain text, and
401/409 errors are JSON envelopes with ``error_summary`` and ``error``.
Handlers raise the exceptions below; the dispatcher turns them into responses.
"""

from __future__ import annotations

import abc
import json
from typing import Any

from flask import Response

from emulator_common import json_response

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


def text_response(text: str, status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(text, status=status, headers=headers)
    response.headers["Content-Type"] = TEXT_TYPE
    return response


def header_json(payload: Any) -> str:
    """Encode ``payload`` for an HTTP header: ASCII only, JSON unicode escapes for the rest."""
    return json.dumps(payload, ensure_ascii=True).replace("\x7f", "\\u007f")


def error_summary(error: Any) -> str:
    """Build the informational ``error_summary`` (``path/conflict/file/..``) of an error."""
    parts: list[str] = []
    node = error
    while isinstance(node, dict) and ".tag" in node:
        tag = node[".tag"]
        parts.append(tag)
        # Struct variants are flattened ("reason" for UploadWriteFailed), unions nest.
        node = node.get(tag, node.get("reason"))
    if isinstance(error, str):
        parts.append(error)
    return "/".join(parts) + "/.."


class DropboxWireError(Exception, metaclass=abc.ABCMeta):
    """Base of the errors a route handler may raise; each knows its response."""

    @abc.abstractmethod
    def response(self, route: str) -> Response:
        """The HTTP answer for this error on ``route``."""


class RouteError(DropboxWireError):
    """A route's declared error union: 409 with the JSON envelope.

    :param error: the union value, e.g. ``{".tag": "path", "path": {".tag": "not_found"}}``.
    """

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error

    def response(self, route: str) -> Response:
        return json_response({"error_summary": error_summary(self.error), "error": self.error}, 409)


class BadInput(DropboxWireError):
    """A malformed call: 400 with a plain-text message naming the route."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def response(self, route: str) -> Response:
        return text_response(f'Error in call to API function "{route}": {self.message}', 400)


class AuthFailure(DropboxWireError):
    """An ``auth.AuthError``: 401 with the JSON envelope."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error

    def response(self, route: str) -> Response:
        return json_response({"error_summary": error_summary(self.error), "error": self.error}, 401)


class TooManyWrites(DropboxWireError):
    """429 ``too_many_write_operations`` (no ``retry_after``, like the real service)."""

    def response(self, route: str) -> Response:
        return rate_limit_response("too_many_write_operations", None)


def rate_limit_response(reason: str, retry_after: int | None) -> Response:
    """A JSON 429; ``Retry-After`` is sent only together with ``retry_after``."""
    error: dict[str, Any] = {"reason": {".tag": reason}}
    headers = None
    if retry_after is not None:
        error["retry_after"] = retry_after
        headers = {"Retry-After": str(retry_after)}
    return json_response({"error_summary": f"{reason}/..", "error": error}, 429, headers)


def lookup_error(tag: str) -> dict[str, Any]:
    """A ``LookupError`` value such as ``{".tag": "not_found"}``."""
    return {".tag": tag}


def write_error(failure: Exception) -> dict[str, Any]:
    """The ``WriteError`` for a failed namespace write (a conflict or no space left)."""
    kind = getattr(failure, "kind", None)
    if isinstance(kind, str):
        return conflict_error(kind)
    return {".tag": "insufficient_space"}


def conflict_error(kind: str) -> dict[str, Any]:
    """A ``WriteError`` conflict: ``kind`` is ``file``, ``folder`` or ``file_ancestor``."""
    return {".tag": "conflict", "conflict": {".tag": kind}}
