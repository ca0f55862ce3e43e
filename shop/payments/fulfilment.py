"""A Checkout Session, as re-read from Stripe, brought to bear on the order it was made for.

Only a session the store created (a :class:`~shop.payments.models.CheckoutSession` row)
pays an order, and only for the amount and currency it was made with; anything else is
refused and logged with the ids. A session that completes:

* ``paid`` (or ``no_payment_required``): the order is paid once, with one receipt; a
  second payment for an order that is already paid is refunded through Stripe and the
  buyer is told;
* ``unpaid`` with its PaymentIntent ``processing`` (a delayed method such as SEPA Debit):
  the order is ``processing`` until ``checkout.session.async_payment_succeeded`` pays it;
  if the PaymentIntent failed instead, the order is pending again and the buyer is mailed
  a way to pay again (once).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import stripe
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from shop.extensions import db
from shop.models import Order, OrderStatus, utcnow
from shop.orders.service import mark_paid, mark_processing, payment_failed
from shop.payments.models import CheckoutSession
from shop.payments.notices import send_duplicate_refund_notice, send_payment_failed_notice
from shop.payments.stripe_api import PROVIDER, object_id, stripe_client

log = logging.getLogger(__name__)

#: A delayed payment still on its way (Stripe's PaymentIntent statuses).
IN_FLIGHT = frozenset({"processing", "requires_action", "requires_confirmation", "requires_capture"})
#: A delayed payment that failed: the PaymentIntent wants another method, or was cancelled.
FAILED = frozenset({"requires_payment_method", "canceled"})


def recorded_session(session_id: str) -> CheckoutSession | None:
    """The store's record of the session ``session_id`` (a database read; Stripe is not asked)."""
    return db.session.scalar(select(CheckoutSession).where(CheckoutSession.session_id == session_id))


def order_for_session(session: stripe.checkout.Session, record: CheckoutSession | None = None
                      ) -> tuple[Order, CheckoutSession] | None:
    """The order ``session`` was made for, with the store's record of it; ``None`` (logged)
    for a session the store did not create or that asks for another amount or currency.

    :param record: the store's record of ``session``, when the caller has just read it (it
        is read here otherwise; a record of another session is not used).
    """
    if record is None or record.session_id != session.id:
        record = recorded_session(session.id)
    reference = session.client_reference_id
    if record is None:
        if reference:
            log.warning("Checkout Session %s names order %s but was not created by the store; refused",
                        session.id, reference)
        return None
    order = db.session.get(Order, record.order_id)
    if order is None or order.payment_provider != PROVIDER:
        return None
    currency = (session.currency or "").upper()
    if reference != str(order.id) or currency != record.currency or currency != order.currency \
            or session.amount_total != record.amount_cents:
        log.warning("Checkout Session %s (order %s, client_reference_id %s, %s %s) does not match what the "
                    "store asked for (%s %s); refused", session.id, order.id, reference, session.amount_total,
                    currency, record.amount_cents, record.currency)
        return None
    return order, record


def fulfil_session(session: stripe.checkout.Session, record: CheckoutSession | None = None) -> Order | None:
    """Bring the order of ``session`` in line with it; returns the order (``None``: not ours).

    An expired session only closes the order's "finish paying" link; the order stays
    pending and the buyer may buy again.

    :param record: the store's record of ``session`` if the caller has it (see :func:`order_for_session`).
    """
    found = order_for_session(session, record)
    if found is None:
        return None
    order, record = found
    if session.status == "complete":
        payment_intent = object_id(session.payment_intent)
        if payment_intent is not None and record.payment_intent_id != payment_intent:
            record.payment_intent_id = payment_intent
            db.session.commit()
        if session.payment_status in ("paid", "no_payment_required"):
            _pay(order, record, payment_intent)
        elif session.payment_status == "unpaid" and payment_intent is not None:
            _delayed(order, record, payment_intent)
    elif session.status == "expired" and order.checkout_session_id == session.id:
        order.checkout_expires_at = None
        db.session.commit()
    return order


def _pay(order: Order, record: CheckoutSession, payment_intent: str | None) -> None:
    if mark_paid(order.id, payment_intent_id=payment_intent, amount_cents=record.amount_cents):
        log.info("order %s paid through Checkout Session %s", order.id, record.session_id)
        return
    db.session.refresh(order)
    if payment_intent is not None and order.payment_intent_id != payment_intent:
        # Two sessions of one order were both paid: the order is paid once; this payment goes back.
        refund_duplicate(order, record, payment_intent)


def refund_duplicate(order: Order, record: CheckoutSession, payment_intent: str) -> None:
    """Refund ``payment_intent``, a second payment for ``order``, through Stripe, and tell the buyer once.

    The idempotency key is the payment's, so a retried event asks for one refund only.

    :raises stripe.StripeError: when Stripe cannot be asked (the event is retried).
    """
    if record.refund_id is not None:
        return
    log.warning("order %s (%s) was paid again by %s through Checkout Session %s; refunding that payment",
                order.id, order.status, payment_intent, record.session_id)
    try:
        refund = stripe_client().v1.refunds.create(
            params={"payment_intent": payment_intent, "reason": "duplicate",
                    "metadata": {"order_id": str(order.id), "duplicate_of": order.payment_intent_id or ""}},
            options={"idempotency_key": f"indiepacks-dup-{payment_intent}"},
        )
        refund_id = refund.id
    except stripe.InvalidRequestError as exc:
        if exc.code != "charge_already_refunded":
            raise
        refund_id = "already refunded"
    result = db.session.execute(
        update(CheckoutSession)
        .where(CheckoutSession.id == record.id, CheckoutSession.refund_id.is_(None))
        .values(refund_id=refund_id, refunded_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(record)
    if cast(CursorResult[Any], result).rowcount == 1:
        send_duplicate_refund_notice(order.id, record.amount_cents, record.currency)


def _delayed(order: Order, record: CheckoutSession, payment_intent: str) -> None:
    status = stripe_client().v1.payment_intents.retrieve(payment_intent).status
    if status in IN_FLIGHT:
        if mark_processing(order.id, payment_intent):
            log.info("order %s: delayed payment %s is on its way (Checkout Session %s)", order.id,
                     payment_intent, record.session_id)
    elif status in FAILED:
        result = db.session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.id == record.id, CheckoutSession.failed_at.is_(None))
            .values(failed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        first = cast(CursorResult[Any], result).rowcount == 1
        payment_failed(order.id, payment_intent)
        db.session.refresh(order)
        log.info("order %s: delayed payment %s failed (Checkout Session %s)", order.id, payment_intent,
                 record.session_id)
        if first and order.status == OrderStatus.PENDING.value:
            send_payment_failed_notice(order.id)
