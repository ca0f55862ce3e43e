"""Images made from the covers: a pack's share card (``og:image``) and WebP covers."""

from __future__ import annotations

import io

from flask import Response, abort, redirect, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from shop.extensions import db
from shop.images import COVER_WIDTHS, cached_image, share_card, share_key, webp_cover, webp_key
from shop.models import Album, Pack
from shop.storage import get_storage
from shop.store import bp
from shop.store.views import album_in_pack, get_pack


@bp.get("/packs/<slug>/share.png")
def share_image(slug: str) -> Response:
    """The pack's 1200×630 card for link previews, made once per set of covers."""
    pack: Pack = get_pack(slug)
    keys = db.session.scalars(
        select(Album.cover_key).where(Album.pack_id == pack.id, Album.cover_key.is_not(None)).order_by(Album.position)
    ).all()
    cover_keys = [key for key in keys if key]
    storage = get_storage()
    key = share_key(cover_keys)
    data = cached_image(storage, key, lambda: share_card([storage.read_bytes(k) for k in cover_keys]))
    assert data is not None  # a share card is always made
    return send_file(io.BytesIO(data), mimetype="image/png", etag=key.rsplit("/", 1)[-1].split(".")[0],
                     conditional=True, max_age=86400)


@bp.get("/packs/<slug>/albums/<int:album_id>/cover-<int:width>.webp")
def cover_webp(slug: str, album_id: int, width: int) -> ResponseReturnValue:
    """The album's cover as a ``width``-pixel WebP (one of :data:`COVER_WIDTHS`), made once per
    cover and width. A cover Pillow cannot read is sent as it was uploaded."""
    if width not in COVER_WIDTHS:
        abort(404, "Covers come in widths " + ", ".join(map(str, COVER_WIDTHS)) + ".")
    album = album_in_pack(slug, album_id)
    if not album.cover_key or not album.cover_sha256:
        abort(404)
    storage = get_storage()
    cover_key = album.cover_key
    data = cached_image(storage, webp_key(album.cover_sha256, width),
                        lambda: webp_cover(storage.read_bytes(cover_key), width))
    if data is None:
        return redirect(url_for("store.cover", slug=slug, album_id=album_id))
    return send_file(io.BytesIO(data), mimetype="image/webp", etag=f"{album.cover_sha256}-{width}",
                     conditional=True, max_age=86400)
