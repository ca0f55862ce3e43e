"""The mails that carry order links: the receipt, and "here are your links again"."""

from __future__ import annotations

from flask import render_template

from shop import mail
from shop.models import Order
from shop.splits import split_shown
from shop.urls import absolute_url


def send_receipt(order: Order, token: str) -> None:
    context = {"order": order, "pack": order.pack, "link": absolute_url("orders.show", token=token),
               "split": split_shown(order)}
    msg = mail.build_message(
        to=order.email,
        subject=f"Your {order.pack.title} downloads",
        text=render_template("orders/mail/receipt.txt", **context),
        html=render_template("orders/mail/receipt.html", **context),
    )
    mail.send(msg)


def send_links_mail(email: str, links: list[tuple[Order, str]]) -> None:
    items = [(order, absolute_url("orders.show", token=token)) for order, token in links]
    msg = mail.build_message(
        to=email,
        subject="Your download links",
        text=render_template("orders/mail/links.txt", items=items),
        html=render_template("orders/mail/links.html", items=items),
    )
    mail.send(msg)
