"""The fake checkout (``SHOP_PAYMENT_PROVIDER=test``): a labelled page and one confirming POST,
and the return leg of every checkout: the buyer's own browser is sent on to its order page."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from shop.extensions import db
from shop.gifts.service import gift_of, giver_token
from shop.models import Order
from shop.order_links import find_order, mint_link
from shop.orders.service import mark_paid
from shop.payments import bp
from shop.payments.checkout_session import forget_checkout, has_checkouts, is_own_checkout


def _fake_order(ref: str) -> Order:
    if current_app.config.get("PAYMENT_PROVIDER") != "test":
        abort(404)
    order = db.session.scalar(select(Order).where(Order.payment_provider == "test", Order.payment_ref == ref))
    if order is None:
        abort(404)
    return order


def return_to_order(order: Order) -> Response:
    """Send the buyer back from checkout: their own browser to a freshly minted order link,
    anyone else (no such checkout in their session) to the thank-you page."""
    if not is_own_checkout(session, order.payment_ref):
        return redirect(url_for("payments.thanks"), code=303)
    gift = gift_of(order.id)
    if gift is not None:
        # The music is the recipient's: the giver follows the delivery instead.
        return redirect(url_for("gifts.status", token=giver_token(gift)), code=303)
    token = mint_link(order)
    db.session.commit()
    return redirect(url_for("orders.show", token=token), code=303)


@bp.get("/checkout/test/<ref>")
def fake_checkout(ref: str) -> str:
    order = _fake_order(ref)
    return render_template("payments/fake_checkout.html", order=order, pack=order.pack)


@bp.post("/checkout/test/<ref>")
def fake_confirm(ref: str) -> Response:
    order = _fake_order(ref)
    if mark_paid(order.id):
        flash(f"Thank you! Your payment went through, and a receipt with this page's link is on its way "
              f"to {order.email}.")
    return return_to_order(order)


@bp.get("/checkout/thanks")
def thanks() -> str:
    return render_template("payments/thanks.html")


@bp.before_app_request
def forget_finished_checkout() -> None:
    """Once the buyer's browser reaches an order page, the checkout that led there is done."""
    if request.endpoint != "orders.show" or not has_checkouts(session):
        return
    order = find_order((request.view_args or {}).get("token", ""))
    if order is not None:
        forget_checkout(session, order.payment_ref)
