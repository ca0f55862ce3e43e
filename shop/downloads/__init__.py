from flask import Blueprint

bp = Blueprint("downloads", __name__)

from shop.downloads import views  # noqa: E402,F401
