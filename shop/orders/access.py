"""Opening an order from its secret link, for views: anything wrong is the same 404."""

from __future__ import annotations

from flask import abort

from shop.models import Order, OrderStatus
from shop.orders.links import find_order


def get_order(token: str) -> Order:
    """The order for ``token``; malformed and unknown tokens get the same plain 404."""
    order = find_order(token)
    if order is None:
        abort(404)
    return order


def get_paid_order(token: str) -> Order:
    """Like :func:`get_order`, but only paid orders: pending and refunded ones are the same 404."""
    order = get_order(token)
    if order.status != OrderStatus.PAID.value:
        abort(404)
    return order
