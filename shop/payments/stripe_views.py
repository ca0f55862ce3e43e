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

from shop import ratelimit
from shop.extensions import csrf, db
from shop.models import Order, OrderStatus
from shop.order_links import get_order
from shop.orders.service import UNPAID
from shop.payments import bp
from shop.payments.checkout_session import is_own_checkout
from shop.payments.fulfilment import fulfil_session, recorded_session
from shop.payments.stripe_api import PROVIDER, StripeNotConfigured, stripe_client
from shop.payments.stripe_events import InvalidEvent, handle_event, verify_event
from shop.payments.views import return_to_order

log = logging.getLogger(__name__)

SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")
STRIPE_DOWN = "We could not reach our payment provider just now. Please try again in a minute."


@bp.post("/payments/stripe/webhook")
def stripe_webhook() -> tuple[Response, int]:
    """Stripe's signed events: 400 (nothing written) unless the signature checks out on the
    raw body; 200 once the event is recorded and acted on (or was already); 500 when Stripe
    could not be asked, so that Stripe delivers the event again."""
    return _receive_event(current_app.config.get("STRIPE_WEBHOOK_SECRET"))


@bp.post("/payments/stripe/connect-webhook")
def stripe_connect_webhook() -> tuple[Response, int]:
    """The ``connect=true`` endpoint's events (those of artists' Express accounts, such as
    ``account.updated``), signed with that endpoint's own secret; answered as above."""
    return _receive_event(current_app.config.get("STRIPE_CONNECT_WEBHOOK_SECRET"))


def _receive_event(secret: str | None) -> tuple[Response, int]:
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
csrf.exempt(stripe_connect_webhook)


@bp.get("/payments/stripe/return")
def stripe_return() -> Response:
    """The Checkout Session's success URL: the buyer's own browser goes on to the order page.

    Only a session the store created is looked at (a database read: an unknown id is a 404
    that costs Stripe nothing), and each client has ``STRIPE_RETURNS_PER_CLIENT`` returns an
    hour. The session is re-read from Stripe while its order is not known to be paid by it;
    only a paid session of one of our orders pays it.
    """
    session_id = request.args.get("session_id", "")
    if not SESSION_ID.fullmatch(session_id):
        abort(404)
    # The count stands at once, and the limiter's lock is held for the server's own work only
    # (every buyer behind one address queues for it), never while Stripe answers.
    allowed = ratelimit.allow_at_once(f"stripe-return:client:{request.remote_addr}",
                                      current_app.config["STRIPE_RETURNS_PER_CLIENT"])
    if not allowed:
        abort(429, "Too many returns from the payment page in a short while. Please wait a little and try again.")
    record = recorded_session(session_id)
    order = db.session.get(Order, record.order_id) if record is not None else None
    if record is None or order is None:
        abort(404)
    if order.status in UNPAID or record.payment_intent_id is None:
        try:
            order = fulfil_session(stripe_client().v1.checkout.sessions.retrieve(session_id), record)
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
        if order.status == OrderStatus.PROCESSING.value:
            flash(f"Thank you! Your payment is on its way: your bank takes a few days to confirm it. There is no "
                  f"need to pay again; the receipt and your downloads follow as soon as it arrives, by mail to "
                  f"{order.email}.")
        else:
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
