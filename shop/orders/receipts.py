"""The mails that carry order links: the receipt, and "here are your links again"."""

from __future__ import annotations

from flask import current_app, render_template, request, url_for

from shop import mail
from shop.models import Order


def absolute_url(endpoint: str, **values: object) -> str:
    """A full URL for mail: ``BASE_URL`` when set, else the current request's host."""
    base = current_app.config.get("BASE_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    if request:
        return url_for(endpoint, _external=True, **values)
    return "http://localhost:8000" + url_for(endpoint, **values)


def send_receipt(order: Order, token: str) -> None:
    context = {"order": order, "pack": order.pack, "link": absolute_url("orders.show", token=token)}
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
