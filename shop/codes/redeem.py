"""Redeeming a download code: a code and an e-mail address give a free order, once.

The order is made and the code claimed in one transaction, and the database makes "once"
true whatever the timing: the order's ``(payment_provider, payment_ref)`` is unique per code
(``code-<id>``), so of two redemptions racing, the second one's insert waits for the first
and then fails; the claim itself is a conditional UPDATE (``WHERE redeemed_at IS NULL``).

A wrong code, a used one, a revoked one and one whose batch was revoked are refused alike
(:class:`CodeRefused`, one message), so answers cannot tell them apart. The one exception is
the double click: the same code with the same address shortly after it was redeemed gives the
same order again (a fresh link to it), since that person already holds both.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from shop.codes.batches import hash_code, normalize_code
from shop.codes.models import CodeBatch, DownloadCode
from shop.email_address import normalize_email
from shop.extensions import db
from shop.models import CODE_PROVIDER, Order, OrderStatus, Pack, utcnow
from shop.order_links import mint_link

#: How long after a redemption the same code and address open the same order again.
REPEAT_WINDOW = timedelta(minutes=10)
REFUSED = "That code does not open anything. Check it and try again."


class CodeRefused(Exception):
    """The code opens nothing (wrong, used, revoked: one answer for all)."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


def redeem(typed_code: str, email: str) -> tuple[Order, str, bool]:
    """Redeem ``typed_code`` for ``email``: ``(order, raw link token, created)``, committed.

    ``created`` is False for a repeat (same code and address within :data:`REPEAT_WINDOW`),
    which mints a fresh link to the order made the first time. Codes work whether or not
    the pack is on sale.

    :raises shop.email_address.EmailError: for an address that is not one (nothing written).
    :raises CodeRefused: for every code that opens nothing (nothing written).
    """
    address = normalize_email(email)
    canonical = normalize_code(typed_code)
    if canonical is None:
        raise CodeRefused()
    found = db.session.execute(
        select(DownloadCode.id, DownloadCode.order_id, DownloadCode.revoked_at, CodeBatch.revoked_at,
               CodeBatch.pack_id, CodeBatch.album_id)
        .join(CodeBatch, CodeBatch.id == DownloadCode.batch_id)
        .where(DownloadCode.code_hash == hash_code(canonical))
    ).first()
    if found is None or found[2] is not None or found[3] is not None:
        raise CodeRefused()
    code_id, order_id, _, _, pack_id, album_id = found
    if order_id is None:
        made = _claim(code_id, pack_id, album_id, address)
        if made is not None:
            return made
    return _repeat(code_id, address)


def _claim(code_id: int, pack_id: int, album_id: int | None, address: str) -> tuple[Order, str, bool] | None:
    """Make the order and claim the code; None when another redemption got there first."""
    pack = db.session.get(Pack, pack_id)
    assert pack is not None
    now = utcnow()
    order = Order(pack=pack, email=address, amount_cents=0, currency=pack.currency,
                  status=OrderStatus.PAID.value, payment_provider=CODE_PROVIDER,
                  payment_ref=f"code-{code_id}", album_id=album_id, created_at=now, paid_at=now)
    token = mint_link(order)
    db.session.add(order)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    claimed = cast(CursorResult[Any], db.session.execute(
        update(DownloadCode)
        .where(DownloadCode.id == code_id, DownloadCode.redeemed_at.is_(None), DownloadCode.revoked_at.is_(None))
        .values(redeemed_at=now, order_id=order.id).execution_options(synchronize_session=False)))
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    db.session.commit()
    return order, token, True


def _repeat(code_id: int, address: str) -> tuple[Order, str, bool]:
    """The double click: the order this code made for ``address`` moments ago, with a fresh link."""
    db.session.expire_all()
    row = db.session.execute(
        select(Order, DownloadCode.redeemed_at).join(DownloadCode, DownloadCode.order_id == Order.id)
        .where(DownloadCode.id == code_id)
    ).first()
    if row is None:
        raise CodeRefused()
    order, redeemed_at = row
    if order.email != address or not order.is_paid or redeemed_at is None or utcnow() - redeemed_at > REPEAT_WINDOW:
        raise CodeRefused()
    token = mint_link(order)
    db.session.commit()
    return order, token, False
