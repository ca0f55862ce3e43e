from flask import Blueprint

bp = Blueprint("store", __name__)

from shop.store import views  # noqa: E402,F401
