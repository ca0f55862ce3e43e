"""What Stripe tells the store, acted on from the objects re-read from Stripe's API.

Stripe delivers webhook events at least once and in no particular order, and the buyer's
return from Checkout may come before or after them (or alone). So nothing here trusts an
event's payload beyond the id of the object it names: each handler re-reads that object
and brings the order in line with what Stripe says *now*, through functions that are
idempotent (:func:`shop.orders.service.mark_paid`, ``mark_refunded``, ``suspend_access``,
``restore_access``). Applying the same event twice, or an older event after a newer one,
therefore ends in the same state.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.extensions import db
from shop.ledger.posting import post_dispute_reinstated, post_dispute_withdrawn, post_refund, post_refund_failed
from shop.models import DisputeStatus, Order, OrderStatus, utcnow
from shop.orders.service import mark_refunded, restore_access, suspend_access
from shop.payments.connect_accounts import ACCOUNT_EVENTS, handle_account_event
from shop.payments.fulfilment import ensure_sale_posted, fulfil_session, recorded_session
from shop.payments.models import PaymentEvent
from shop.payments.notices import send_refund_notice
from shop.payments.stripe_api import object_id, stripe_client

log = logging.getLogger(__name__)

SESSION_EVENTS = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
})
# Events whose object is a charge, or names one in its ``charge`` field.
CHARGE_EVENTS = frozenset({
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
})
HANDLED_EVENTS = SESSION_EVENTS | CHARGE_EVENTS | ACCOUNT_EVENTS
OPEN_DISPUTE_STATUSES = frozenset({"warning_needs_response", "warning_under_review", "needs_response",
                                   "under_review"})
# A dispute that ended without taking the money: an inquiry that closed, or one Stripe
# prevented (it never withdraws funds). The order is not disputed: access comes back.
ENDED_WITHOUT_CHARGEBACK = {"warning_closed": DisputeStatus.CLOSED, "prevented": DisputeStatus.PREVENTED}
#: A chargeback's statuses: Stripe withdrew the disputed amount when it opened (an inquiry,
#: ``warning_*``, takes nothing). Used when a dispute shows no balance transactions.
CHARGEBACK_STATUSES = frozenset({"needs_response", "under_review", "won", "lost"})
#: Refunds whose money has left (or is leaving) the store's balance, as ``amount_refunded`` counts them.
REFUND_UNDER_WAY = frozenset({"pending", "requires_action", "succeeded"})
REFUND_UNDONE = frozenset({"failed", "canceled"})


class InvalidEvent(ValueError):
    """The body or its signature is wrong, missing or too old; nothing was written."""


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    type: str
    duplicate: bool = False
    order_id: int | None = None


def verify_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event in ``payload`` once its ``Stripe-Signature`` checks out.

    :raises InvalidEvent: for a missing, malformed, forged or stale signature, or a body
        that is not an event.
    """
    if not signature:
        raise InvalidEvent("missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise InvalidEvent("bad signature") from exc
    except ValueError as exc:
        raise InvalidEvent("the body is not JSON") from exc
    event = json.loads(payload)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise InvalidEvent("not an event")
    return event


def handle_event(event: dict[str, Any]) -> EventOutcome:
    """Record ``event`` once and act on it; a processed event id is a no-op.

    :raises stripe.StripeError: when Stripe cannot be asked (the event stays unprocessed,
        so the caller answers with an error and Stripe delivers it again).
    """
    event_id, event_type = event["id"], event["type"]
    record = _record(event_id, event_type)
    if record is None:
        return EventOutcome(event_id, event_type, duplicate=True)
    if event_type in ACCOUNT_EVENTS:
        # An artist's Express account (shop/payments/connect_accounts.py); no order.
        handle_account_event(event)
        order = None
    elif event.get("account"):
        # Something that happened on a connected account (its payouts, its balance): not the
        # store's payments, whatever its type.
        order = None
    else:
        order = _act_on(event_type, event.get("data", {}).get("object") or {})
    order_id = order.id if order is not None else None
    db.session.execute(
        update(PaymentEvent)
        .where(PaymentEvent.event_id == event_id)
        .values(processed_at=utcnow(), order_id=order_id)
    )
    db.session.commit()
    return EventOutcome(event_id, event_type, order_id=order_id)


def _record(event_id: str, event_type: str) -> PaymentEvent | None:
    """The event's row (inserted on first sight), or ``None`` when it was already processed."""
    record = db.session.scalar(select(PaymentEvent).where(PaymentEvent.event_id == event_id))
    if record is None:
        db.session.add(PaymentEvent(event_id=event_id, type=event_type[:100]))
        try:
            db.session.commit()
        except IntegrityError:
            # The same event delivered twice at once: the other request recorded it.
            db.session.rollback()
        record = db.session.scalar(select(PaymentEvent).where(PaymentEvent.event_id == event_id))
    if record is None or record.processed_at is not None:
        return None
    return record


def _act_on(event_type: str, obj: dict[str, Any]) -> Order | None:
    if event_type in SESSION_EVENTS:
        session_id = obj.get("id")
        if not isinstance(session_id, str):
            return None
        if recorded_session(session_id) is None:
            # Not a session the store made: nothing to ask Stripe about.
            log.warning("event for Checkout Session %s (naming order %s), which the store did not create; "
                        "ignored", session_id, obj.get("client_reference_id"))
            return None
        return fulfil_session(stripe_client().v1.checkout.sessions.retrieve(session_id))
    if event_type in CHARGE_EVENTS:
        charge_id = obj.get("id") if obj.get("object") == "charge" else obj.get("charge")
        if not isinstance(charge_id, str):
            return None
        return sync_charge(charge_id)
    return None


def _order_for_payment_intent(payment_intent_id: str) -> Order | None:
    order = db.session.scalar(select(Order).where(Order.payment_intent_id == payment_intent_id))
    if order is not None:
        return order
    # Not paid here yet (this event overtook checkout.session.completed): the session
    # that made the payment says which order it pays.
    sessions = stripe_client().v1.checkout.sessions.list(params={"payment_intent": payment_intent_id, "limit": 1})
    for session in sessions.data:
        order = fulfil_session(session)
        if order is not None:
            db.session.refresh(order)
            return order if order.payment_intent_id == payment_intent_id else None
    return None


def sync_charge(charge_id: str) -> Order | None:
    """Bring the order paid by charge ``charge_id`` in line with its refunds and disputes.

    * ``refunded_cents`` is the charge's ``amount_refunded``; a charge refunded in full
      revokes the order (:func:`mark_refunded`) and mails the buyer once.
    * The charge's newest dispute: open suspends access (status ``disputed``); won, an
      inquiry that closed (``warning_closed``) and a prevented dispute restore it; lost keeps
      it suspended. Once an operator restored the order, that dispute's events leave it be.
    """
    client = stripe_client()
    charge = client.v1.charges.retrieve(charge_id, params={"expand": ["balance_transaction"]})
    payment_intent = object_id(charge.payment_intent)
    if payment_intent is None:
        return None
    order = _order_for_payment_intent(payment_intent)
    if order is None:
        return None
    db.session.refresh(order)
    ensure_sale_posted(order, charge)
    _sync_refunds(order, charge)
    disputes = client.v1.disputes.list(params={"charge": charge_id, "limit": 1}).data
    if disputes:
        _post_dispute(order, disputes[0])
        _sync_dispute(order, disputes[0].status)
    db.session.refresh(order)
    return order


def _sync_refunds(order: Order, charge: stripe.Charge) -> None:
    """The charge's refunds posted to the ledger (once each, by refund id; a refund that failed
    after it was posted is taken back) with ``refunded_cents``, in one transaction."""
    if charge.amount_refunded or order.refunded_cents:
        refunds = stripe_client().v1.refunds.list(params={"charge": charge.id, "limit": 100})
        for refund in sorted(refunds.auto_paging_iter(), key=lambda r: (r.created, r.id)):
            key = f"refund:{refund.id}"
            at = datetime.fromtimestamp(refund.created, UTC)
            if refund.status in REFUND_UNDER_WAY:
                post_refund(order, key, refund.amount, at)
            elif refund.status in REFUND_UNDONE:
                post_refund_failed(order, key, at)
    refunded = max(0, min(charge.amount_refunded, order.amount_cents))
    if order.refunded_cents != refunded:
        db.session.execute(
            update(Order).where(Order.id == order.id).values(refunded_cents=refunded)
            .execution_options(synchronize_session=False)
        )
        log.info("order %s: %s cents refunded", order.id, refunded)
    db.session.commit()
    if charge.refunded or (charge.amount and charge.amount_refunded >= charge.amount):
        if mark_refunded(order.id):
            send_refund_notice(order.id)


def _post_dispute(order: Order, dispute: stripe.Dispute) -> None:
    """Post what the dispute moved, from its balance transactions (the withdrawal with Stripe's
    dispute fee, and the reinstatement of a won dispute), each once; a dispute that shows none
    is read from its status (a chargeback withdrew its amount; a won one gave it back). An
    inquiry moves nothing, and neither does a prevented dispute (the store's money definition,
    :mod:`shop.accounting`, counts it as paid). Posted whatever an operator decided about
    access: it is money."""
    if dispute.status in ENDED_WITHOUT_CHARGEBACK:
        return
    moved = [t for t in (dispute.balance_transactions or [])
             if isinstance(t, stripe.BalanceTransaction) and t.currency.upper() == order.currency.upper()]
    withdrawn = [t for t in moved if t.amount < 0]
    reinstated = [t for t in moved if t.amount > 0]
    if withdrawn:
        post_dispute_withdrawn(order, dispute.id, -sum(t.amount for t in withdrawn), sum(t.fee for t in withdrawn),
                               datetime.fromtimestamp(withdrawn[0].created, UTC))
    elif dispute.status in CHARGEBACK_STATUSES:
        post_dispute_withdrawn(order, dispute.id, dispute.amount, 0, datetime.fromtimestamp(dispute.created, UTC))
    if reinstated:
        post_dispute_reinstated(order, dispute.id, sum(t.amount for t in reinstated),
                                -sum(t.fee for t in reinstated), datetime.fromtimestamp(reinstated[0].created, UTC))
    elif dispute.status == "won":
        post_dispute_reinstated(order, dispute.id, dispute.amount, 0)
    db.session.commit()


def _sync_dispute(order: Order, status: str) -> None:
    if order.dispute_status == DisputeStatus.RESTORED.value:
        # A charge is disputed at most once, and an operator decided this dispute's outcome.
        log.info("order %s: dispute now %s; access stays restored by an operator", order.id, status)
        return
    if status in ENDED_WITHOUT_CHARGEBACK:
        restore_access(order.id, OrderStatus.DISPUTED)
        _set_dispute_status(order.id, ENDED_WITHOUT_CHARGEBACK[status])
    elif status == "won":
        restore_access(order.id, OrderStatus.DISPUTED)
        _set_dispute_status(order.id, DisputeStatus.WON)
    elif status == "lost":
        _set_dispute_status(order.id, DisputeStatus.LOST)
        suspend_access(order.id, OrderStatus.DISPUTED, "The payment for this order was disputed, so the "
                                                        "delivery stopped.")
    elif status in OPEN_DISPUTE_STATUSES:
        _set_dispute_status(order.id, DisputeStatus.OPEN)
        suspend_access(order.id, OrderStatus.DISPUTED, "The payment for this order is disputed, so the "
                                                        "delivery stopped.")


def _set_dispute_status(order_id: int, status: DisputeStatus) -> None:
    db.session.execute(
        update(Order).where(Order.id == order_id).values(dispute_status=status.value)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
