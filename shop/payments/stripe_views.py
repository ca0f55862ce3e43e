"""Stripe's two ways back into the store: the signed webhook and the buyer's return.

Both end in :func:`shop.payments.stripe_events.fulfil_session`, so whichever comes first
pays the order and the other finds it paid.
"""

from __future__ import annotations

import logging
import re

import stripe
from flask import abort, current_app, flash, jsonify, redirect, request, session, url_for
from werkzeug.wrappers import Response

from shop.extensions import csrf
from shop.models import OrderStatus
from shop.order_links import get_order
from shop.payments import bp
from shop.payments.checkout_session import is_own_checkout
from shop.payments.stripe_api import PROVIDER, StripeNotConfigured, stripe_client
from shop.payments.stripe_events import InvalidEvent, fulfil_session, handle_event, verify_event
from shop.payments.views import return_to_order

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")
STRIPE_DOWN = "We could not reach our payment provider just now. Please try again in a minute."


@bp.post("/payments/stripe/webhook")
def stripe_webhook() -> tuple[Response, int]:
    """Stripe's signed events: 400 (nothing written) unless the signature checks out on the
    raw body; 200 once the event is recorded and acted on (or was already); 500 when Stripe
    could not be asked, so that Stripe delivers the event again."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        abort(404)
    try:
        event = verify_event(request.get_data(cache=False), request.headers.get("Stripe-Signature"), secret)
    except InvalidEvent as exc:
        return jsonify(error=str(exc)), 400
    try:
        outcome = handle_event(event)
    except (stripe.StripeError, StripeNotConfigured) as exc:
        log.warning("Stripe event %s (%s) not processed yet: %s", event["id"], event["type"], type(exc).__name__)
        return jsonify(error="not processed; please retry"), 500
    return jsonify(received=True, duplicate=outcome.duplicate), 200


# Stripe signs its events instead of sending a CSRF token.
csrf.exempt(stripe_webhook)


@bp.get("/payments/stripe/return")
def stripe_return() -> Response:
    """The Checkout Session's success URL: the buyer's own browser goes on to the order page.

    The session is re-read from Stripe; only a paid session of one of our orders pays it.
    """
    session_id = request.args.get("session_id", "")
    if not SESSION_ID.fullmatch(session_id):
        abort(404)
    try:
        checkout = stripe_client().v1.checkout.sessions.retrieve(session_id)
        order = fulfil_session(checkout)
    except stripe.InvalidRequestError:
        abort(404)
    except (stripe.StripeError, StripeNotConfigured):
        abort(503, STRIPE_DOWN)
    if order is None:
        abort(404)
    if order.status == OrderStatus.PENDING.value:
        # Not paid (yet): back to the pack page with the buyer's amount and address.
        flash("Your payment has not gone through. You have not been charged; you can try again.")
        return redirect(url_for("store.checkout_cancelled", slug=order.pack.slug), code=303)
    if is_own_checkout(session, order.payment_ref):
        flash(f"Thank you! Your payment went through, and a receipt with this page's link is on its way "
              f"to {order.email}.")
    return return_to_order(order)


@bp.get("/orders/<token>/finish-payment")
def finish_payment(token: str) -> Response:
    """A pending order's way back to its open Checkout Session (read-only: nothing changes)."""
    order = get_order(token)
    if order.status != OrderStatus.PENDING.value or order.payment_provider != PROVIDER \
            or not order.checkout_session_id:
        return redirect(url_for("orders.show", token=token), code=303)
    try:
        checkout = stripe_client().v1.checkout.sessions.retrieve(order.checkout_session_id)
    except (stripe.StripeError, StripeNotConfigured):
        abort(503, STRIPE_DOWN)
    if checkout.status == "open" and checkout.url:
        return redirect(checkout.url, code=303)
    flash("That checkout has closed. Choose your price again to pay for the pack.")
    return redirect(url_for("store.pack", slug=order.pack.slug), code=303)
