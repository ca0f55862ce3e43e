"""Payment providers behind one small interface: Stripe Checkout, and the built-in test checkout."""

from flask import Blueprint

bp = Blueprint("payments", __name__)

from shop.payments import models, views  # noqa: E402,F401
from shop.payments import stripe_views as stripe_views  # noqa: E402
