"""Joining and leaving the list, with signed links. No request objects here.

* The confirmation link carries the subscriber id, address and the time of the request it
  answers, signed and timestamped (:data:`CONFIRM_MAX_AGE`); one that answers a request
  made before the address's last unsubscribe does not confirm it again.
* The unsubscribe link carries the subscriber id, signed, without expiry (it must keep
  working for as long as mail that holds it exists).

Both are HMACs with ``SECRET_KEY`` (itsdangerous), so the database holds no link secrets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop import mail
from shop.extensions import db
from shop.mailing.models import Subscriber, SubscriberStatus
from shop.models import utcnow
from shop.urls import absolute_url, base_url

log = logging.getLogger(__name__)

CONFIRM_MAX_AGE = timedelta(days=7)
#: The version of what the sign-up forms say, kept with each consent.
WORDING = "next-pack-v1"
LIST_ID = "next-pack"


def _confirm_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="mailing-confirm")


def _unsubscribe_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="mailing-unsubscribe")


def unsubscribe_token(subscriber: Subscriber) -> str:
    return str(_unsubscribe_signer().dumps(subscriber.id))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return absolute_url("mailing.unsubscribe", token=unsubscribe_token(subscriber))


def subscriber_for_unsubscribe(token: str) -> Subscriber | None:
    try:
        subscriber_id = _unsubscribe_signer().loads(token[:200])
    except BadSignature:
        return None
    return db.session.get(Subscriber, subscriber_id) if isinstance(subscriber_id, int) else None


@dataclass(frozen=True)
class ConfirmLink:
    subscriber: Subscriber
    requested_at: datetime


def read_confirm_token(token: str) -> ConfirmLink | None:
    """The subscriber a confirmation link is for, or None (forged, expired, another address)."""
    try:
        payload = _confirm_signer().loads(token[:300], max_age=int(CONFIRM_MAX_AGE.total_seconds()))
    except (BadSignature, SignatureExpired):
        return None
    if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[0], int)
            and isinstance(payload[2], int)):
        return None
    subscriber = db.session.get(Subscriber, payload[0])
    if subscriber is None or subscriber.email != payload[1]:
        return None
    return ConfirmLink(subscriber, datetime.fromtimestamp(payload[2] / 1_000_000, UTC))


def list_message(subscriber: Subscriber, subject: str, template: str, **context: object) -> EmailMessage:
    """A list mail to ``subscriber`` with its unsubscribe link in the body and in the
    ``List-Unsubscribe`` headers (RFC 2369, one-click by RFC 8058): added before any DKIM
    signing a relay does, so the signature covers them."""
    link = unsubscribe_url(subscriber)
    context = {**context, "unsubscribe_url": link, "subscriber": subscriber}
    msg = mail.build_message(to=subscriber.email, subject=subject,
                             text=render_template(f"mailing/mail/{template}.txt", **context),
                             html=render_template(f"mailing/mail/{template}.html", **context))
    msg["List-Unsubscribe"] = f"<{link}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["List-Id"] = f"Indie Packs next pack <{LIST_ID}.{base_url().split('://', 1)[-1].split('/')[0]}>"
    msg["Precedence"] = "bulk"
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def request_subscription(address: str, *, source: str, ip: str | None) -> Subscriber | None:
    """Record that ``address`` asked to join; the subscriber to mail a confirmation to, or None
    when nothing is to be sent (already confirmed). Commits.

    An unsubscribed address stays unsubscribed until it confirms again. Callers answer the
    same whatever this returns (no enumeration of the list).
    """
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        subscriber = Subscriber(email=address, source=source[:300], wording=WORDING, request_ip=ip)
        db.session.add(subscriber)
        try:
            db.session.commit()
        except IntegrityError:  # the same address, asked twice at once: the other request made the row
            db.session.rollback()
            return None
        return subscriber
    if subscriber.status == SubscriberStatus.CONFIRMED.value:
        return None
    subscriber.requested_at, subscriber.source, subscriber.wording = utcnow(), source[:300], WORDING
    subscriber.request_ip = ip
    db.session.commit()
    return subscriber


def send_confirmation(subscriber: Subscriber) -> None:
    """:raises shop.mail.MailError: when the mail cannot be sent."""
    requested = int(subscriber.requested_at.timestamp() * 1_000_000)
    token = _confirm_signer().dumps([subscriber.id, subscriber.email, requested])
    msg = list_message(subscriber, "Confirm: tell me about the next pack", "confirm",
                       confirm_url=absolute_url("mailing.confirm", token=token))
    mail.send(msg)


def opt_in_at_checkout(address: str, pack_path: str, ip: str | None) -> None:
    """The buy form's "tell me about the next pack" box: the list's double opt-in, for an
    address the buy form has checked. A mail that cannot be sent is logged, never in the way
    of the purchase."""
    subscriber = request_subscription(address, source=f"checkout {pack_path}", ip=ip)
    if subscriber is None:
        return
    try:
        send_confirmation(subscriber)
    except mail.MailError:
        log.warning("confirmation mail after checkout could not be sent", exc_info=True)


def confirm(link: ConfirmLink) -> bool:
    """Confirm the subscription; False when the link answers a request made before the
    address's last unsubscribe (an old mail does not undo a withdrawal). Commits."""
    subscriber = link.subscriber
    if subscriber.unsubscribed_at is not None and link.requested_at <= subscriber.unsubscribed_at:
        return False
    if subscriber.status != SubscriberStatus.CONFIRMED.value:
        subscriber.status = SubscriberStatus.CONFIRMED.value
        subscriber.confirmed_at = utcnow()
        subscriber.unsubscribed_at = subscriber.unsubscribe_method = None
    db.session.commit()
    return True


def unsubscribe(subscriber: Subscriber, method: str) -> None:
    """Leave the list for good (until a new confirmation). Commits."""
    if subscriber.status != SubscriberStatus.UNSUBSCRIBED.value:
        subscriber.status = SubscriberStatus.UNSUBSCRIBED.value
        subscriber.unsubscribed_at = utcnow()
        subscriber.unsubscribe_method = method
    db.session.commit()


def import_confirmed(addresses: list[str], source: str) -> tuple[int, int]:
    """Add addresses whose consent was collected elsewhere as confirmed; an address already on
    file (above all an unsubscribed one) is left as it is. ``(added, left)``. Commits."""
    known = set(db.session.scalars(select(Subscriber.email).where(Subscriber.email.in_(addresses))))
    now = utcnow()
    fresh = sorted(set(addresses) - known)
    for address in fresh:
        db.session.add(Subscriber(email=address, status=SubscriberStatus.CONFIRMED.value, requested_at=now,
                                  confirmed_at=now, source=source[:300], wording="import"))
    db.session.commit()
    return len(fresh), len(set(addresses)) - len(fresh)
