"""Mail to the buyer about their payment: a full refund."""

from __future__ import annotations

import logging

from shop import mail
from shop.extensions import db
from shop.mail import MailError
from shop.models import Order

log = logging.getLogger(__name__)


def send_refund_notice(order_id: int) -> None:
    """Tell the buyer their order was refunded and its downloads are closed (best effort:
    the refund stands whatever the mail server says)."""
    order = db.session.get(Order, order_id)
    if order is None:
        return
    context = {"order": order, "pack": order.pack}
    try:
        mail.send(mail.compose(order.email, f"Your order of {order.pack.title} was refunded",
                               "payments/mail/refunded", **context))
    except MailError:
        log.exception("refund notice for order %s could not be sent", order_id)
