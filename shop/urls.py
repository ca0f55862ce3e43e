"""URLs: absolute ones for the world outside a request (mail, the OAuth redirect URI, fetch
links), and many links of one route built from one ``url_for`` (:func:`link_maker`).

The absolute ones are built from ``BASE_URL`` alone, never from the request's ``Host`` or
``X-Forwarded-Host``: a forged header must not put a valid order link on someone else's
domain. Production refuses to start without ``SHOP_BASE_URL``; development falls back to
the address ``make run`` and ``flask run`` serve on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, url_for

DEVELOPMENT_BASE_URL = "http://127.0.0.1:8000"


def base_url() -> str:
    """The store's public URL without a trailing slash."""
    return (current_app.config.get("BASE_URL") or DEVELOPMENT_BASE_URL).rstrip("/")


def absolute_url(endpoint: str, **values: object) -> str:
    """The full URL of ``endpoint`` under :func:`base_url`, the same inside and outside a request."""
    parts = urlsplit(base_url())
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    return adapter.build(endpoint, values, force_external=True)


def link_maker(endpoint: str, id_name: str, **values: Any) -> Callable[[int], str]:
    """``url_for(endpoint, **values, <id_name>=id)`` for many ids from one ``url_for``: a large
    pack has hundreds of track links, and building each through the URL map cost more than the
    rest of the page. The id must be the route's last variable part (``values`` come before it)."""
    sample_id = 2_000_000_001
    sample = url_for(endpoint, **{**values, id_name: sample_id})
    head, found, tail = sample.rpartition(f"/{sample_id}")
    assert found, sample  # the route's shape changed: build each link with url_for again

    def link(item_id: int) -> str:
        return f"{head}/{item_id}{tail}"

    return link
