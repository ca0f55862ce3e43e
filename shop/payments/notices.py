"""Mail to the buyer about their payment: a full refund, a second payment sent back, a delayed
payment that failed."""

from __future__ import annotations

import logging

from shop import mail
from shop.extensions import db
from shop.mail import MailError
from shop.models import Order
from shop.urls import absolute_url

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


def _send(order_id: int, subject: str, template: str, **context: object) -> None:
    """Mail the buyer of ``order_id`` (best effort: what happened stands whatever the mail server says)."""
    order = db.session.get(Order, order_id)
    if order is None:
        return
    values = {"order": order, "pack": order.pack, **context}
    try:
        mail.send(mail.compose(order.email, subject.format(title=order.pack.title), f"payments/mail/{template}",
                               **values))
    except MailError:
        log.exception("%s notice for order %s could not be sent", template, order_id)


def send_duplicate_refund_notice(order_id: int, amount_cents: int, currency: str) -> None:
    """Tell the buyer a second payment for their order was refunded."""
    _send(order_id, "A second payment for your {title} order was refunded", "duplicate_refunded",
          amount=amount_cents, currency=currency)


def send_payment_failed_notice(order_id: int) -> None:
    """Tell the buyer their delayed payment failed, with a link to pay again."""
    order = db.session.get(Order, order_id)
    if order is None:
        return
    _send(order_id, "Your payment for {title} did not go through", "payment_failed",
          link=absolute_url("store.pack", slug=order.pack.slug))
