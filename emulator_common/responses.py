"""Response helpers: exact JSON content type and a request id on every answer."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable
from typing import Any

from flask import Flask, Response

JSON_TYPE = "application/json"
_ALPHABET = string.ascii_letters + string.digits


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None,
                  *, indent: int | None = None) -> Response:
    """Serialise ``payload`` with ``Content-Type: application/json`` exactly (no charset)."""
    response = Response(json.dumps(payload, indent=indent), status=status, headers=headers)
    # Assigning through the headers avoids Werkzeug appending "; charset=utf-8".
    response.headers["Content-Type"] = JSON_TYPE
    return response


def random_token(length: int, prefix: str = "") -> str:
    """``prefix`` plus ``length`` random ASCII letters and digits (ids, secrets)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def install_request_ids(app: Flask, header: str, new_id: Callable[[], str]) -> None:
    """Give every response of ``app`` a fresh ``header`` unless a handler already set one."""

    @app.after_request
    def add_request_id(response: Response) -> Response:
        response.headers.setdefault(header, new_id())
        return response
