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
from shop.ledger.models import LedgerPosting
from shop.ledger.posting import post_sale, sale_key
from shop.models import Order, OrderStatus, utcnow
from shop.orders.service import UNPAID, mark_paid, mark_processing, payment_failed
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
            _pay(order, record, payment_intent, session_tax(session))
        elif session.payment_status == "unpaid" and payment_intent is not None:
            _delayed(order, record, payment_intent)
    elif session.status == "expired" and order.checkout_session_id == session.id:
        order.checkout_expires_at = None
        db.session.commit()
    return order


def session_tax(session: stripe.checkout.Session) -> int:
    """The tax Stripe collected with the session (``total_details.amount_tax``; 0 without Stripe Tax)."""
    details = session.total_details
    return int(details.amount_tax or 0) if details is not None else 0


def payment_fee(payment_intent: str | None, currency: str) -> int:
    """Stripe's fee on ``payment_intent``, from its charge's balance transaction, in the
    minor unit of ``currency`` (the order's).

    A payment without a charge or balance transaction yet (a delayed method, or a Stripe
    account that does not show one) has a fee of 0, logged: the ledger then splits the whole
    amount. A balance transaction in another (settlement) currency is converted back at its
    own rate (``fee × charge amount ÷ transaction amount``, rounded half up).

    :raises stripe.StripeError: when Stripe cannot be asked (the caller's event is retried).
    """
    if payment_intent is None:
        return 0
    intent = stripe_client().v1.payment_intents.retrieve(
        payment_intent, params={"expand": ["latest_charge.balance_transaction"]})
    charge = intent.latest_charge
    if not isinstance(charge, stripe.Charge):
        log.warning("payment %s has no charge: the ledger records no Stripe fee for it", payment_intent)
        return 0
    return charge_fee(charge, currency)


def charge_fee(charge: stripe.Charge, currency: str) -> int:
    """The fee of ``charge`` (retrieved with its ``balance_transaction`` expanded), in ``currency``."""
    transaction = charge.balance_transaction
    if not isinstance(transaction, stripe.BalanceTransaction):
        log.warning("charge %s has no balance transaction: the ledger records no Stripe fee for it", charge.id)
        return 0
    fee = int(transaction.fee or 0)
    if transaction.currency.upper() == currency.upper() or not fee:
        return fee
    if not transaction.amount:
        log.warning("charge %s: a fee of %s %s on a transaction of 0; recorded as 0", charge.id, fee,
                    transaction.currency)
        return 0
    converted = (2 * fee * charge.amount + abs(transaction.amount)) // (2 * abs(transaction.amount))
    log.info("charge %s: fee %s %s is %s %s", charge.id, fee, transaction.currency, converted, currency)
    return int(converted)


def ensure_sale_posted(order: Order, charge: stripe.Charge) -> None:
    """Post the sale of a paid Stripe order that has none (paid before the ledger existed),
    with the fee and tax Stripe reports; a no-op for an order posted already. ``charge`` is the
    order's, retrieved with its balance transaction expanded.

    :raises stripe.StripeError: when Stripe cannot be asked.
    """
    if order.status in UNPAID or not order.amount_cents:
        return
    if db.session.scalar(select(LedgerPosting.id).where(LedgerPosting.key == sale_key(order.id))) is not None:
        return
    tax = 0
    if order.payment_intent_id is not None:
        sessions = stripe_client().v1.checkout.sessions.list(
            params={"payment_intent": order.payment_intent_id, "limit": 1}).data
        tax = session_tax(sessions[0]) if sessions else 0
    post_sale(order, charge_fee(charge, order.currency), tax)
    db.session.commit()


def _pay(order: Order, record: CheckoutSession, payment_intent: str | None, tax_cents: int) -> None:
    fee = 0
    if order.status in UNPAID and record.amount_cents:
        # Asked before the order changes, so that the sale is posted with the status.
        fee = payment_fee(payment_intent, record.currency)
    if mark_paid(order.id, payment_intent_id=payment_intent, amount_cents=record.amount_cents,
                 fee_cents=fee, tax_cents=tax_cents):
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
