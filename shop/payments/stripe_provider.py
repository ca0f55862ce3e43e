"""Stripe Checkout as a payment provider: one Checkout Session per attempt to pay an order."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import stripe
from flask import current_app

from shop.extensions import db
from shop.models import Order, utcnow
from shop.payments.providers import PaymentProvider, PaymentsUnavailable
from shop.payments.stripe_api import PROVIDER, stripe_client
from shop.urls import absolute_url

log = logging.getLogger(__name__)

# Stripe accepts 30 minutes to 24 hours; an hour is enough to type a card number.
SESSION_LIFETIME = timedelta(hours=1)


class StripeProvider(PaymentProvider):
    """Creates a Checkout Session for the order and sends the buyer to Stripe's page.

    The order is paid by :func:`shop.payments.stripe_events.fulfil_session`, from the
    signed webhook and from the buyer's return, whichever comes first.
    """

    name = PROVIDER

    def __init__(self) -> None:
        """:raises PaymentsUnavailable: without ``STRIPE_SECRET_KEY`` (before any order is written)."""
        if not current_app.config.get("STRIPE_SECRET_KEY"):
            raise PaymentsUnavailable("SHOP_STRIPE_SECRET_KEY is not set")

    def start_checkout(self, order: Order) -> str:
        """Create a session for ``order`` (commits its id) and return the session's URL.

        A repeated submit (same order, amount and minute) replays the same session through
        the idempotency key; a newer session replaces an open older one, which is expired
        so that only one can be paid.

        :raises PaymentsUnavailable: when Stripe cannot be reached or refuses (the order
            stays pending; buying again continues it).
        """
        try:
            return self._create_session(order)
        except stripe.StripeError as exc:
            log.warning("Checkout Session for order %s failed: %s", order.id, type(exc).__name__)
            raise PaymentsUnavailable("Stripe did not create a Checkout Session") from exc

    def _create_session(self, order: Order) -> str:
        client = stripe_client()
        expires_at = (utcnow() + SESSION_LIFETIME).replace(second=0, microsecond=0)
        order_ref = str(order.id)
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": order.amount_cents,
                        "product_data": {"name": order.pack.title},
                    },
                }],
                "customer_email": order.email,
                "client_reference_id": order_ref,
                "metadata": {"order_id": order_ref, "pack": order.pack.slug},
                "payment_intent_data": {"metadata": {"order_id": order_ref}},
                "success_url": absolute_url("payments.stripe_return") + "?session_id={CHECKOUT_SESSION_ID}",
                "cancel_url": absolute_url("store.checkout_cancelled", slug=order.pack.slug),
                "expires_at": int(expires_at.timestamp()),
            },
            options={"idempotency_key": checkout_idempotency_key(order, int(expires_at.timestamp()))},
        )
        previous = order.checkout_session_id
        order.checkout_session_id = session.id
        order.checkout_expires_at = expires_at
        db.session.commit()
        if previous and previous != session.id:
            expire_session(previous)
        assert session.url is not None
        return session.url


def checkout_idempotency_key(order: Order, expires_at: int) -> str:
    """Derived from the order: its amount, the session it replaces and the new expiry minute.

    Concurrent submits of one order share the key (Stripe answers them with one session);
    once a session has been made, or has expired, the next attempt gets a new key.
    """
    material = (f"{order.id}:{order.amount_cents}:{order.currency}:{order.email}:"
                f"{order.checkout_session_id or ''}:{expires_at}")
    return f"indiepacks-checkout-{order.id}-{hashlib.sha256(material.encode()).hexdigest()[:24]}"


def expire_session(session_id: str) -> None:
    """Expire an older session of the order if it is still open (best effort)."""
    client = stripe_client()
    try:
        if client.v1.checkout.sessions.retrieve(session_id).status == "open":
            client.v1.checkout.sessions.expire(session_id)
    except stripe.StripeError:
        # Paid or expired meanwhile, or Stripe is unreachable: an old session that gets paid
        # still pays this order (fulfilment checks the session's order, not the newest id).
        pass
