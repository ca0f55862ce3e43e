"""Secret order links: minted with :mod:`secrets`, stored only as SHA-256 hashes.

This is the ground floor every buyer-facing package stands on: the order page, the
downloads and the Dropbox views all turn a raw token into an order through here, and
the paid-only rule lives in one place (:func:`find_paid_order`). "Is this order paid right
now", asked of the database rather than of a loaded object, is :func:`order_status_now`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets

from flask import abort
from sqlalchemy import Select, bindparam, select

from shop.extensions import db
from shop.models import Order, OrderLink, OrderStatus

# 32 random bytes, URL-safe base64 without padding: 43 characters, 256 bits.
TOKEN_BYTES = 32
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def mint_link(order: Order) -> str:
    """Add a new link to ``order`` (not committed) and return its raw token.

    The raw token exists only in the return value: callers hand it to the buyer
    (redirect, e-mail) and forget it.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    order.links.append(OrderLink(token_hash=hash_token(token)))
    return token


@functools.cache
def order_by_link_statement() -> Select[tuple[Order]]:
    """The order whose live link hashes to ``:token_hash`` (see :func:`link_params`). Built
    once: every order page and download starts with it, and building a statement costs about
    what running it does."""
    return select(Order).join(OrderLink).where(OrderLink.token_hash == bindparam("token_hash"),
                                               OrderLink.revoked_at.is_(None))


def link_params(token: str) -> dict[str, str] | None:
    """The parameters of :func:`order_by_link_statement` for a raw token; ``None`` when the
    token is malformed (it then opens nothing, like an unknown or revoked one)."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    return {"token_hash": hash_token(token)}


def live_link_id(token: str) -> int | None:
    """The id of the live link ``token`` is (what a cookie may keep instead of the token), or ``None``."""
    params = link_params(token)
    if params is None:
        return None
    return db.session.scalar(select(OrderLink.id).where(OrderLink.token_hash == params["token_hash"],
                                                        OrderLink.revoked_at.is_(None)))


def find_order(token: str) -> Order | None:
    """The order a raw token opens, or ``None`` for malformed, unknown and revoked tokens alike."""
    params = link_params(token)
    return None if params is None else db.session.scalar(order_by_link_statement(), params)


def find_paid_order(token: str) -> Order | None:
    """Like :func:`find_order`, but only an order that is paid (not pending, refunded, ...)."""
    order = find_order(token)
    return order if order is not None and order.is_paid else None


def get_order(token: str) -> Order:
    """The order for ``token``; malformed and unknown tokens get the same plain 404."""
    order = find_order(token)
    if order is None:
        abort(404)
    return order


def get_paid_order(token: str) -> Order:
    """Like :func:`get_order`, but only paid orders: pending and refunded ones are the same 404."""
    order = find_paid_order(token)
    if order is None:
        abort(404)
    return order


def order_status_now(order_id: int) -> str | None:
    """The order's status as committed now (``None`` when it is gone), asked of the database:
    a refund or dispute commits in another process, so a loaded ``Order`` may be outdated."""
    return db.session.scalar(select(Order.status).where(Order.id == order_id))


def order_is_paid(order_id: int) -> bool:
    """Whether the order is paid right now (see :func:`order_status_now`)."""
    return order_status_now(order_id) == OrderStatus.PAID.value
