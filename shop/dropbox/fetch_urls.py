"""Short-lived signed URLs from which Dropbox fetches a file (the ``save_url`` fallback).

A link names one file of one delivery, not a catalog file: it serves only while that
delivery is under way and its order is paid, so a link that leaks (a log, a proxy) is
worth nothing once the delivery is over or the order refunded.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shop.urls import absolute_url

# Dropbox starts fetching as soon as save_url is accepted and must finish within 15 minutes.
FETCH_URL_MAX_AGE = 15 * 60
_SALT = "shop.dropbox.fetch-url"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def signed_file_url(delivery_file_id: int) -> str:
    """An absolute URL that serves one delivery file for the next few minutes."""
    token = _serializer().dumps({"d": delivery_file_id})
    return absolute_url("dropbox.fetch_file", fetch_token=token)


def verify_file_token(token: str) -> int | None:
    """The delivery file id a token names, or None when forged, malformed or expired."""
    try:
        data = _serializer().loads(token, max_age=FETCH_URL_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    file_id = data.get("d") if isinstance(data, dict) else None
    return file_id if isinstance(file_id, int) else None
