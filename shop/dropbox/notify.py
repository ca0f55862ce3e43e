"""The mail that tells a buyer a long delivery ended (done, failed, or waiting for them).

Who gets one: a run that took longer than ``DELIVERY_MAIL_AFTER_SECONDS`` (a minute by
default), measured from when a worker started it to when it ended. Measured by duration
alone, on purpose: whether the buyer still watches the page would have to be recorded
when the progress JSON is polled, and a GET changes nothing in this store (nor would a
Redis key be worth a second source of truth). A buyer who waited on the page for a long
delivery gets a mail they did not strictly need; it is also the record of where the music is.

Exactly once per run: ``notified_at`` is set by a conditional UPDATE before sending, so two
workers (or a repeated job) cannot both send; a retry clears it for the next run. A mail
that fails is logged and lost, never retried and never fatal to the delivery.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import update

from shop import mail
from shop.catalog.layout import format_label
from shop.dropbox.deliveries import updated_rows
from shop.dropbox.models import Delivery, DeliveryStatus, FileStatus
from shop.extensions import db
from shop.models import utcnow
from shop.order_links import mint_link
from shop.urls import absolute_url

log = logging.getLogger(__name__)

NOTIFIED_STATUSES = (DeliveryStatus.DONE, DeliveryStatus.FAILED, DeliveryStatus.NEEDS_SPACE,
                     DeliveryStatus.NEEDS_RECONNECT)
SUBJECTS = {
    DeliveryStatus.DONE.value: "Your music is in your Dropbox",
    DeliveryStatus.FAILED.value: "Your Dropbox delivery stopped",
    DeliveryStatus.NEEDS_SPACE.value: "Your Dropbox is full: make room to finish the delivery",
    DeliveryStatus.NEEDS_RECONNECT.value: "Reconnect Dropbox to finish the delivery",
}


def mail_after() -> timedelta:
    return timedelta(seconds=current_app.config["DELIVERY_MAIL_AFTER_SECONDS"])


def notify_if_long(delivery_id: int) -> bool:
    """E-mail the buyer that this run ended, if it was a long one. Returns whether a mail went out."""
    try:
        return _notify_if_long(delivery_id)
    except Exception:  # noqa: BLE001 - a mail must never fail the delivery that triggered it
        db.session.rollback()
        log.exception("delivery %s: the end-of-delivery mail could not be sent", delivery_id)
        return False


def _notify_if_long(delivery_id: int) -> bool:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.status not in NOTIFIED_STATUSES:
        return False
    began = delivery.started_at or delivery.created_at
    ended = delivery.finished_at or utcnow()
    if ended - began < mail_after():
        return False
    claimed = db.session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.notified_at.is_(None))
        .values(notified_at=utcnow()).execution_options(synchronize_session=False)
    )
    db.session.commit()
    if updated_rows(claimed) != 1:
        return False  # someone sent it already
    order = delivery.order
    token = mint_link(order)  # the raw token exists only in this mail, as for the receipt
    db.session.commit()
    context = {
        "delivery": delivery,
        "format": format_label(delivery.format),
        "order": order,
        "status": delivery.status,
        "done": sum(1 for f in delivery.files if f.status == FileStatus.DONE.value),
        "total": len(delivery.files),
        "folders": sorted({f"Apps/{current_app.config['DROPBOX_APP_FOLDER']}{f.folder}" for f in delivery.files}),
        "link": absolute_url("orders.show", token=token) + f"#delivery-{delivery.id}",
    }
    mail.send(mail.compose(order.email, SUBJECTS[delivery.status], "dropbox/mail/delivery_ended", **context))
    return True
