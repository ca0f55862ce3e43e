"""Payment providers behind one small interface, and the built-in test checkout."""

from flask import Blueprint

bp = Blueprint("payments", __name__)

from shop.payments import views  # noqa: E402,F401
