"""Short-lived signed URLs from which Dropbox fetches a file (the ``save_url`` fallback)."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shop.urls import absolute_url

# Dropbox must finish a save_url transfer within 15 minutes.
FETCH_URL_MAX_AGE = 20 * 60
_SALT = "shop.dropbox.fetch-url"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def signed_file_url(track_file_id: int) -> str:
    """An absolute URL that serves one track file for the next few minutes."""
    token = _serializer().dumps({"f": track_file_id})
    return absolute_url("dropbox.fetch_file", fetch_token=token)


def verify_file_token(token: str) -> int | None:
    """The track file id a token grants, or None when forged, malformed or expired."""
    try:
        data = _serializer().loads(token, max_age=FETCH_URL_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("f"), int):
        return None
    return data["f"]
