"""Order state changes, callable from views, payment webhooks, jobs and the CLI."""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult

from shop.dropbox import connections
from shop.dropbox.deliveries import cancel_deliveries, stop_reason
from shop.extensions import db
from shop.gifts import service as gifts
from shop.gifts.models import Gift
from shop.ledger.posting import post_refund, post_sale
from shop.mail import MailError
from shop.models import Order, OrderStatus, utcnow
from shop.order_links import mint_link
from shop.orders.receipts import send_links_mail, send_receipt

log = logging.getLogger(__name__)

#: The statuses an order has before its money arrived.
UNPAID = (OrderStatus.PENDING.value, OrderStatus.PROCESSING.value)


def mark_paid(order_id: int, *, payment_intent_id: str | None = None, amount_cents: int | None = None,
              fee_cents: int = 0, tax_cents: int = 0) -> bool:
    """Mark a pending (or processing) order paid, post it to the ledger and mail its receipt;
    True if this call did it.

    Safe to call any number of times (a double-clicked confirm, a webhook retried by the
    provider, the buyer's return racing the webhook): the UPDATE only matches an order not
    paid yet, so only the first call wins and only it sends the receipt.

    :param payment_intent_id: the provider's payment (Stripe's PaymentIntent), which
        refunds and disputes name later.
    :param amount_cents: what the provider actually charged, when it knows.
    :param fee_cents: the provider's fee on the payment, and ``tax_cents`` the tax it
        collected: both come off before the split (:mod:`shop.ledger.posting`).

    The ledger's sale posting is written in the same transaction as the status: if it fails,
    the order stays unpaid and the error propagates (a webhook is then delivered again), so
    a paid order always has its money accounted for.
    """
    values: dict[str, object] = {"status": OrderStatus.PAID.value, "paid_at": utcnow()}
    if payment_intent_id is not None:
        values["payment_intent_id"] = payment_intent_id
    if amount_cents is not None:
        values["amount_cents"] = amount_cents
    result = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status.in_(UNPAID))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        db.session.rollback()
        return False
    order = db.session.get(Order, order_id, populate_existing=True)  # one read, as the UPDATE left it
    assert order is not None
    try:
        post_sale(order, fee_cents, tax_cents)
    except Exception:
        db.session.rollback()
        log.exception("order %s: the ledger could not post the sale; the order stays unpaid until it can", order_id)
        raise
    gift = gifts.gift_of(order_id)
    if gift is not None:
        _gift_paid(order, gift)
        return True
    token = mint_link(order)
    db.session.commit()
    try:
        send_receipt(order, token)
    except MailError:
        # The order is paid whatever the mail server says; /orders/lost mails a new link.
        log.exception("receipt for order %s could not be sent", order_id)
    return True


def mark_processing(order_id: int, payment_intent_id: str | None) -> bool:
    """A pending order's delayed payment (SEPA Debit, ...) was accepted and is on its way: the
    order is ``processing`` (no receipt, no access yet); True if this call moved it."""
    result = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PENDING.value)
        .values(status=OrderStatus.PROCESSING.value, payment_intent_id=payment_intent_id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return _rowcount(result) == 1


def payment_failed(order_id: int, payment_intent_id: str | None) -> bool:
    """The delayed payment ``payment_intent_id`` of a processing order failed: the order is
    pending again, so the buyer can pay another way; True if this call moved it."""
    result = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PROCESSING.value,
               Order.payment_intent_id == payment_intent_id)
        .values(status=OrderStatus.PENDING.value, payment_intent_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return _rowcount(result) == 1


def _gift_paid(order: Order, gift: Gift) -> None:
    """A gift was paid: the giver's receipt (no music link), and the recipient's own link now
    if its day has come (else the worker sends it then)."""
    db.session.commit()
    try:
        gifts.send_giver_receipt(order, gift)
    except MailError:
        log.exception("gift receipt for order %s could not be sent", order.id)
    gifts.deliver(gift.id)


def _rowcount(result: object) -> int:
    """Rows an UPDATE matched (``Session.execute`` is typed as returning a plain ``Result``)."""
    return int(cast(CursorResult[Any], result).rowcount)


def mark_refunded(order_id: int, reason: str | None = None, ledger_key: str | None = None) -> bool:
    """Mark a paid order refunded and revoke what it gave; True if this call refunded it.

    :param reason: what a stopped delivery tells the buyer (the default says it was refunded).
    :param ledger_key: post what was left to refund to the ledger under this key, in the same
        transaction (an order no provider's refund events describe); Stripe's refunds are
        posted from its refunds instead.
    See :func:`suspend_access`.
    """
    return suspend_access(order_id, OrderStatus.REFUNDED, reason, ledger_key=ledger_key)


def suspend_access(order_id: int, status: OrderStatus, reason: str | None = None,
                   ledger_key: str | None = None) -> bool:
    """Move a paid order to a status that is not paid (refunded, disputed, ...) and revoke access.

    Links, downloads and progress already follow the status. Here, in addition, the order's
    active Dropbox deliveries stop for good (``cancelled``, with ``reason``; a worker in the
    middle of one stops before its next file) and the buyer's Dropbox tokens are revoked
    (best effort) and forgotten.

    Safe to call any number of times (a webhook retried by the provider): only the first
    call changes the status and returns True, but every call on an order in ``status``
    makes sure nothing is left running or connected.
    """
    if status == OrderStatus.PAID:
        raise ValueError("suspend_access needs a status that is not paid")
    result = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PAID.value)
        .values(status=status.value)
        .execution_options(synchronize_session=False)
    )
    changed = _rowcount(result) == 1
    order = db.session.get(Order, order_id)
    if order is None:
        db.session.rollback()
        return False
    db.session.refresh(order)
    if order.status != status.value:
        db.session.rollback()
        return False
    if changed and ledger_key is not None:
        post_refund(order, ledger_key, order.amount_cents - order.refunded_cents)
    stopped = cancel_deliveries(order_id, reason or stop_reason(status.value))
    db.session.commit()
    if changed:
        log.info("order %s is now %s: %s Dropbox deliveries stopped", order_id, status.value, stopped)
    # After the commit: revoking talks to Dropbox, and the order must be closed whatever it says.
    connections.disconnect(order)
    return changed


def restore_access(order_id: int, status: OrderStatus) -> bool:
    """Make an order in ``status`` (e.g. a dispute that was won) paid again; True if this call did.

    Stopped deliveries stay stopped and the Dropbox stays disconnected: the buyer connects
    again and presses Add to Dropbox, as on a new order.
    """
    result = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == status.value)
        .values(status=OrderStatus.PAID.value)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return _rowcount(result) == 1


def resend_links(email: str) -> int:
    """Mint a fresh link for every paid order that ``email`` holds the music of, and mail them;
    returns the count. A gift's music is the recipient's once delivered, never the giver's.

    Earlier links keep working. Commits before mailing, so a link in a mail always works.
    """
    own = (Order.email == email) & Gift.id.is_(None)
    given = (Gift.recipient_email == email) & Gift.sent_at.is_not(None)
    orders = db.session.scalars(
        select(Order).outerjoin(Gift, Gift.order_id == Order.id)
        .where(Order.status == OrderStatus.PAID.value, or_(own, given)).order_by(Order.id)
    ).all()
    if not orders:
        return 0
    links = [(order, mint_link(order)) for order in orders]
    db.session.commit()
    send_links_mail(email, links)
    return len(links)
