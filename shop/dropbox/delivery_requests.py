"""What a buyer's request for a delivery leads to: one decision for the Add to Dropbox
buttons and for the OAuth callback that starts what was asked before connecting.

(Not ``requests.py``: that name reads as the HTTP library every Dropbox module imports.)

The decision, in order: connect first (no Dropbox connected); show the delivery done a
moment ago instead of copying everything again unasked (unless the buyer pressed Send
again); refuse what does not fit (space first, :func:`shop.dropbox.space.space_verdict`);
resume a delivery that waited for space; else create the delivery (or find the one under
way) and put it on the queue, saying so when the queue is down. The views only map the
:class:`Outcome` to a response.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shop.dropbox import connections
from shop.dropbox.deliveries import active_delivery, create_delivery, enqueue_delivery, recently_done, retry_delivery
from shop.dropbox.models import Delivery, DeliveryStatus
from shop.dropbox.space import SpaceVerdict, space_verdict
from shop.models import Order


class Step(enum.Enum):
    CONNECT_FIRST = "connect first"
    RECENTLY_DONE = "recently done"
    NO_SPACE = "no space"
    RESUMED = "resumed after space"
    CREATED = "created and queued"
    UNDER_WAY = "already under way"
    QUEUE_DOWN = "saved, queue down"


@dataclass(frozen=True)
class Outcome:
    """What :func:`request_delivery` decided. ``delivery`` is the delivery to show (none for
    connect first, nor for a new delivery that does not fit); ``verdict`` comes with NO_SPACE."""

    step: Step
    delivery: Delivery | None = None
    verdict: SpaceVerdict | None = None


def request_delivery(order: Order, target: str, fmt: str, *, again: bool = False) -> Outcome:
    """Start (or show) the delivery of ``target`` in ``fmt`` for the paid ``order``.

    :param again: the buyer pressed Send again on a delivery done a moment ago.
    :raises OrderNotPaid: the order stopped being paid before the delivery was written.
    """
    if connections.connection_for(order) is None:
        return Outcome(Step.CONNECT_FIRST)
    existing = active_delivery(order.id, target, fmt)
    done = None if existing or again else recently_done(order.id, target, fmt)
    if done is not None:
        return Outcome(Step.RECENTLY_DONE, done)
    waits_for_space = existing is not None and existing.status == DeliveryStatus.NEEDS_SPACE.value
    if existing is None or waits_for_space:
        verdict = space_verdict(order, target, fmt, existing)
        if verdict is not None and not verdict.fits:
            return Outcome(Step.NO_SPACE, existing, verdict)
    if existing is not None and waits_for_space:
        # The buyer made room and asked again: the same delivery goes on.
        retry_delivery(existing)
        return Outcome(Step.RESUMED, existing)
    delivery, created = create_delivery(order, target, fmt)
    # A delivery that already waits on the queue needs nothing; one that never got there tries again.
    if delivery.enqueued_at is None and not enqueue_delivery(delivery):
        return Outcome(Step.QUEUE_DOWN, delivery)
    return Outcome(Step.CREATED if created else Step.UNDER_WAY, delivery)
