"""Refunding an order: the operator asks, the provider's event makes it so.

:func:`refund_order` is what ``flask orders refund`` and the operator console call. For a
Stripe order it only *asks* Stripe (``POST /v1/refunds``); the order changes when Stripe's
``charge.refunded`` / ``refund.updated`` event arrives (:mod:`shop.payments.stripe_events`):
a full refund revokes the order and mails the buyer, a partial one records the amount and
keeps access. An order that no provider took money for (the ``test`` checkout, an order
granted by an operator) has nothing to send back and is marked refunded at once.

The ledger follows the same path: a Stripe refund is posted (once, by its refund id) when its
event is synced; an order refunded at once is posted with its status change.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from stripe.params import RefundCreateParams

from shop.extensions import db
from shop.models import Order, OrderStatus
from shop.orders.service import mark_refunded
from shop.payments.stripe_api import PROVIDER, StripeNotConfigured, object_id, stripe_client

REASONS = ("requested_by_customer", "duplicate", "fraudulent")


class RefundError(RuntimeError):
    """The refund cannot be made; ``str(exc)`` says why, for an operator."""


@dataclass(frozen=True)
class RefundRequest:
    """What was asked. ``refund_id`` and ``status`` are Stripe's; ``revoked_now`` is True when
    the order was marked refunded right away (no provider money to return)."""

    order_id: int
    amount_cents: int
    currency: str
    refund_id: str | None = None
    status: str | None = None
    revoked_now: bool = False


def refund_order(order_id: int, amount_cents: int | None = None, reason: str | None = None) -> RefundRequest:
    """Refund ``amount_cents`` of order ``order_id`` (all that is left when ``None``).

    A repeated call with nothing refunded in between reuses Stripe's idempotency key, so
    it does not refund twice.

    :param reason: one of :data:`REASONS` (Stripe's own values).
    :raises RefundError: unknown or unpaid order, a bad amount or reason, or Stripe refused
        or could not be reached (nothing changed).
    """
    order = db.session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise RefundError(f"there is no order #{order_id}")
    if reason is not None and reason not in REASONS:
        raise RefundError(f"the reason must be one of {', '.join(REASONS)}")
    if order.status not in (OrderStatus.PAID.value, OrderStatus.DISPUTED.value):
        raise RefundError(f"order #{order_id} is {order.status}, not paid")
    left = order.amount_cents - order.refunded_cents
    if amount_cents is not None and not 0 < amount_cents <= left:
        raise RefundError(f"the amount must be above 0 and at most what is left to refund ({left} cents)")
    if order.payment_provider != PROVIDER:
        if amount_cents is not None and amount_cents != left:
            raise RefundError(f"order #{order_id} was not paid through Stripe: only a full refund can be recorded")
        revoked = mark_refunded(order_id, "This order was refunded by the store.",
                                ledger_key=f"refund:{order.payment_provider}:{order.id}")
        return RefundRequest(order_id, left, order.currency, revoked_now=revoked)
    if not order.payment_intent_id:
        raise RefundError(f"order #{order_id} has no Stripe payment to refund")
    try:
        return _ask_stripe(order, amount_cents, reason)
    except StripeNotConfigured as exc:
        raise RefundError(str(exc)) from exc
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
        raise RefundError(f"Stripe refused the refund: {message}") from exc


def _ask_stripe(order: Order, amount_cents: int | None, reason: str | None) -> RefundRequest:
    client = stripe_client()
    assert order.payment_intent_id is not None
    params: RefundCreateParams = {
        "payment_intent": order.payment_intent_id,
        "metadata": {"order_id": str(order.id)},
    }
    if amount_cents is not None:
        params["amount"] = amount_cents
    if reason is not None:
        params["reason"] = reason
    # Derived from the order and what its events have refunded so far: the same command run
    # twice before Stripe's event arrives replays the first refund instead of making a
    # second; once the event is in, another partial refund is a new one.
    key = f"indiepacks-refund-{order.id}-{amount_cents or 'rest'}-{reason or ''}-{order.refunded_cents}"
    refund = client.v1.refunds.create(params=params, options={"idempotency_key": key})
    amount = refund.amount if refund.amount is not None else (amount_cents or 0)
    return RefundRequest(order.id, amount, order.currency, refund_id=refund.id, status=refund.status,
                         revoked_now=False)


def charge_of(order: Order) -> str | None:
    """The id of the charge that paid ``order`` (what disputes and refunds refer to)."""
    if not order.payment_intent_id:
        return None
    intent = stripe_client().v1.payment_intents.retrieve(order.payment_intent_id)
    return object_id(intent.latest_charge)
