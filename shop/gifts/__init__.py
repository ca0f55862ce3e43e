"""Gifts: a pack bought for someone else. The giver's receipt holds no music link; the
recipient gets their own order link on the chosen day, sent by the worker (or at payment
when the day is today). The giver follows the delivery, and resends it, on a page of their own.
"""

from flask import Blueprint

bp = Blueprint("gifts", __name__)

from shop.gifts import views  # noqa: E402,F401
