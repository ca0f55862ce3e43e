"""``/feed.xml``: an Atom feed of the listed packs that are announced or on sale."""

from __future__ import annotations

from flask import Response, render_template

from shop.models import utcnow
from shop.store import bp
from shop.store.listing import listed_packs
from shop.urls import absolute_url


@bp.get("/feed.xml")
def feed() -> Response:
    now = utcnow()
    packs = sorted((p for p in listed_packs() if not p.has_ended(now)), key=lambda p: p.starts_at, reverse=True)
    updated = max((p.created_at for p in packs), default=now)
    xml = render_template("store/feed.xml", packs=packs, now=now, updated=updated, absolute_url=absolute_url)
    response = Response(xml, mimetype="application/atom+xml")
    response.cache_control.public = True
    response.cache_control.max_age = 600
    return response
