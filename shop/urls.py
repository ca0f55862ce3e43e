"""Absolute URLs for the world outside a request: mail, the OAuth redirect URI, fetch links.

They are built from ``BASE_URL`` alone, never from the request's ``Host`` or
``X-Forwarded-Host``: a forged header must not put a valid order link on someone else's
domain. Production refuses to start without ``SHOP_BASE_URL``; development falls back to
the address ``make run`` and ``flask run`` serve on.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app

DEVELOPMENT_BASE_URL = "http://127.0.0.1:8000"


def base_url() -> str:
    """The store's public URL without a trailing slash."""
    return (current_app.config.get("BASE_URL") or DEVELOPMENT_BASE_URL).rstrip("/")


def absolute_url(endpoint: str, **values: object) -> str:
    """The full URL of ``endpoint`` under :func:`base_url`, the same inside and outside a request."""
    parts = urlsplit(base_url())
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    return adapter.build(endpoint, values, force_external=True)
