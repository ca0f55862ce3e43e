"""Order state changes, callable from views, payment webhooks, jobs and the CLI."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from shop.extensions import db
from shop.mail import MailError
from shop.models import Order, OrderStatus, utcnow
from shop.order_links import mint_link
from shop.orders.receipts import send_links_mail, send_receipt

log = logging.getLogger(__name__)


def mark_paid(order_id: int) -> bool:
    """Mark a pending order paid and mail its receipt; True if this call did it.

    Safe to call any number of times (a double-clicked confirm, a webhook retried by the
    provider): the UPDATE only matches a pending order, so only the first call wins.
    """
    result = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PENDING.value)
        .values(status=OrderStatus.PAID.value, paid_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    order = db.session.get(Order, order_id)
    db.session.refresh(order)
    token = mint_link(order)
    db.session.commit()
    try:
        send_receipt(order, token)
    except MailError:
        # The order is paid whatever the mail server says; /orders/lost mails a new link.
        log.exception("receipt for order %s could not be sent", order_id)
    return True


def resend_links(email: str) -> int:
    """Mint a fresh link for every paid order of ``email`` and mail them; returns the count.

    Earlier links keep working. Commits before mailing, so a link in a mail always works.
    """
    orders = db.session.scalars(
        select(Order).where(Order.email == email, Order.status == OrderStatus.PAID.value).order_by(Order.id)
    ).all()
    if not orders:
        return 0
    links = [(order, mint_link(order)) for order in orders]
    db.session.commit()
    send_links_mail(email, links)
    return len(links)
