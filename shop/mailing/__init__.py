"""The "next pack" list: double opt-in subscriptions, one-click unsubscribe (RFC 8058), and
pack announcements sent by the worker, once per subscriber and pack.

Its console pages and the ``flask mailing`` commands live in :mod:`shop.admin` (they audit).
"""

from flask import Blueprint

bp = Blueprint("mailing", __name__)

from shop.mailing import views  # noqa: E402,F401
