"""Download codes: batches of single-use codes an operator hands out (at a gig, to the press,
with a record), redeemed on ``/redeem`` for a free order of a pack.

Above :mod:`shop.orders` (a redemption is an order with the usual receipt); the console pages
that make and revoke batches live in :mod:`shop.admin.code_views`.
"""

from flask import Blueprint

bp = Blueprint("codes", __name__)

from shop.codes import views  # noqa: E402,F401
