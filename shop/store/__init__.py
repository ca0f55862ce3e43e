from flask import Blueprint

bp = Blueprint("store", __name__)

from shop.store import feed, media_views, pack_words, page_views, share, views  # noqa: E402,F401
