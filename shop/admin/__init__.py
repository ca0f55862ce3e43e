"""The operator console (``/admin``): the top floor. It may use every package below it;
nothing imports it except the factory's :func:`shop.admin.setup.register`."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from shop.admin import (  # noqa: E402,F401
    album_text_views,
    artist_views,
    code_views,
    gift_views,
    mailing_views,
    operation_views,
    pack_shares,
    pack_views,
    payout_views,
    views,
)
