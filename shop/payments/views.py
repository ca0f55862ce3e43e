"""The fake checkout (``SHOP_PAYMENT_PROVIDER=test``): a labelled page and one confirming POST."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, session, url_for
from sqlalchemy import select

from shop.extensions import db
from shop.models import Order
from shop.orders.service import mark_paid
from shop.payments import bp
from shop.payments.checkout_session import checkout_token


def _fake_order(ref: str) -> Order:
    if current_app.config.get("PAYMENT_PROVIDER") != "test":
        abort(404)
    order = db.session.scalar(select(Order).where(Order.payment_provider == "test", Order.payment_ref == ref))
    if order is None:
        abort(404)
    return order


@bp.get("/checkout/test/<ref>")
def fake_checkout(ref: str):
    order = _fake_order(ref)
    return render_template("payments/fake_checkout.html", order=order, pack=order.pack)


@bp.post("/checkout/test/<ref>")
def fake_confirm(ref: str):
    order = _fake_order(ref)
    if mark_paid(order.id):
        flash(f"Thank you! Your payment went through, and a receipt with this page's link is on its way "
              f"to {order.email}.")
    token = checkout_token(session, ref)
    if token:
        return redirect(url_for("orders.show", token=token), code=303)
    return redirect(url_for("payments.thanks"), code=303)


@bp.get("/checkout/thanks")
def thanks():
    return render_template("payments/thanks.html")
