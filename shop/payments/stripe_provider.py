"""Stripe Checkout as a payment provider: one Checkout Session per attempt to pay an order."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import stripe
from flask import current_app
from sqlalchemy import select, update

from shop.currencies import format_plain, stripe_refusal
from shop.extensions import db
from shop.models import Order, OrderStatus, utcnow
from shop.payments.fulfilment import fulfil_session, recorded_session
from shop.payments.models import CheckoutSession
from shop.payments.providers import AmountRefused, PaymentProvider, PaymentsUnavailable
from shop.payments.stripe_api import PROVIDER, stripe_client
from shop.urls import absolute_url

log = logging.getLogger(__name__)

# Stripe accepts 30 minutes to 24 hours; an hour is enough to type a card number.
SESSION_LIFETIME = timedelta(hours=1)
# Stripe's answers to an amount it cannot charge (under the currency's minimum, over its maximum).
AMOUNT_ERRORS = frozenset({"amount_too_small", "amount_too_large"})


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
        """Create a session for ``order`` (records it and commits) and return the session's URL.

        One session per order is open at a time: under a lock on the order's row, the
        previous session is expired through Stripe before another is made. If the previous
        one was paid meanwhile (or its delayed payment is on its way), no new session is
        made and the buyer is sent to that session's return instead. A repeated submit
        (same order, amount and minute) replays the same session through the idempotency key.

        :raises AmountRefused: Stripe cannot charge the order's amount in its currency.
        :raises PaymentsUnavailable: when Stripe cannot be reached or refuses (the order
            stays pending; buying again continues it).
        """
        refusal = stripe_refusal(order.amount_cents, order.currency)
        if refusal is not None:
            raise AmountRefused(f"{format_plain(order.amount_cents, order.currency)} {order.currency} is {refusal}")
        try:
            return self._create_session(order)
        except stripe.InvalidRequestError as exc:
            db.session.rollback()
            if exc.code in AMOUNT_ERRORS:
                raise AmountRefused(exc.user_message or str(exc.code)) from exc
            log.warning("Checkout Session for order %s refused: %s", order.id, exc.code or type(exc).__name__)
            raise PaymentsUnavailable("Stripe did not create a Checkout Session") from exc
        except stripe.StripeError as exc:
            db.session.rollback()
            log.warning("Checkout Session for order %s failed: %s", order.id, type(exc).__name__)
            raise PaymentsUnavailable("Stripe did not create a Checkout Session") from exc

    def _create_session(self, order: Order) -> str:
        client = stripe_client()
        order = lock_order(order.id)
        if order.status != OrderStatus.PENDING.value:
            db.session.commit()
            return _return_url(order.checkout_session_id or "")
        previous = order.checkout_session_id
        if previous:
            finished = _close(previous)
            if finished is not None:
                # Paid (or on its way) before this submit: fulfil it, and no second payment.
                db.session.commit()
                fulfil_session(finished)
                db.session.refresh(order)
                if order.status != OrderStatus.PENDING.value:
                    return _return_url(previous)
                order = lock_order(order.id)
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
        if recorded_session(session.id) is None:  # an idempotent replay is recorded already
            db.session.add(CheckoutSession(session_id=session.id, order_id=order.id, amount_cents=order.amount_cents,
                                           currency=order.currency))
        order.checkout_session_id = session.id
        order.checkout_expires_at = expires_at
        db.session.commit()
        assert session.url is not None
        return session.url


def lock_order(order_id: int) -> Order:
    """The order, re-read under a lock on its row held until the transaction ends.

    PostgreSQL: ``SELECT ... FOR UPDATE``, so concurrent checkouts of one order take turns
    (other orders are not held up). SQLite has no row locks: a write to the row takes the
    database's write lock instead (SQLite is for development and tests).
    """
    if db.session.connection().dialect.name == "sqlite":
        db.session.execute(update(Order).where(Order.id == order_id).values(id=Order.id)
                           .execution_options(synchronize_session=False))
    return db.session.execute(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def _close(session_id: str) -> stripe.checkout.Session | None:
    """Expire the order's previous session if it is still open; the session when it completed
    (paid, or a delayed payment on its way) so the caller fulfils it instead of charging again.

    :raises stripe.StripeError: Stripe cannot be asked (no new session may be made then).
    """
    sessions = stripe_client().v1.checkout.sessions
    previous = sessions.retrieve(session_id)
    if previous.status == "open":
        try:
            previous = sessions.expire(session_id)
        except stripe.InvalidRequestError:
            # Completed between the two calls: read what it became.
            previous = sessions.retrieve(session_id)
    return previous if previous.status == "complete" else None


def _return_url(session_id: str) -> str:
    return absolute_url("payments.stripe_return") + f"?session_id={session_id}"


def checkout_idempotency_key(order: Order, expires_at: int) -> str:
    """Derived from the order: its amount, the session it replaces and the new expiry minute.

    Concurrent submits of one order share the key (Stripe answers them with one session);
    once a session has been made, or has expired, the next attempt gets a new key.
    """
    material = (f"{order.id}:{order.amount_cents}:{order.currency}:{order.email}:"
                f"{order.checkout_session_id or ''}:{expires_at}")
    return f"indiepacks-checkout-{order.id}-{hashlib.sha256(material.encode()).hexdigest()[:24]}"
