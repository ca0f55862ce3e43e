"""Add to Dropbox: connecting a buyer's Dropbox, seeding, delivering with copy references."""

from flask import Blueprint

bp = Blueprint("dropbox", __name__)

from shop.dropbox import connect_views, models, views  # noqa: E402,F401
