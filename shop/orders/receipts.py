"""The mails that carry order links: the receipt, and "here are your links again"."""

from __future__ import annotations

from shop import mail
from shop.models import Order
from shop.splits import split_shown
from shop.urls import absolute_url


def send_receipt(order: Order, token: str) -> None:
    """:raises shop.mail.MailError: when the receipt could not be built or sent."""
    context = {"order": order, "pack": order.pack, "link": absolute_url("orders.show", token=token),
               "split": split_shown(order)}
    mail.send(mail.compose(order.email, f"Your music from {order.pack.title}", "orders/mail/receipt", **context))


def send_links_mail(email: str, links: list[tuple[Order, str]]) -> None:
    """:raises shop.mail.MailError: when the mail could not be built or sent."""
    items = [(order, absolute_url("orders.show", token=token)) for order, token in links]
    mail.send(mail.compose(email, "Your download links", "orders/mail/links", items=items))
