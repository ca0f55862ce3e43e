from flask import Blueprint

bp = Blueprint("payments", __name__)

from shop.payments import views  # noqa: E402,F401
