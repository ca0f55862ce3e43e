"""Gifts from the buy form to the recipient's inbox. No request objects here.

The recipient's mail is sent once: a send claims the gift (``sending_at``, committed) before
it mints the recipient's link and talks to SMTP, and records ``sent_at`` after. A claim that
went silent (the worker died mid-send) is taken again after :data:`SEND_STALE`, so a
scheduled gift survives restarts; at worst a send killed between the server's acceptance and
the commit is repeated, never lost. Whether the order is still paid is checked at send time,
and the recipient's link is an ordinary order link: a refund closes it like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import CursorResult, or_, select, update

from shop import mail
from shop.email_address import EmailError, normalize_email
from shop.extensions import db
from shop.gifts.models import MESSAGE_MAX, Gift
from shop.models import Order, OrderStatus, utcnow
from shop.order_links import mint_link
from shop.urls import absolute_url

log = logging.getLogger(__name__)

MAX_DAYS_AHEAD = 90
SEND_STALE = timedelta(minutes=5)


@dataclass(frozen=True)
class GiftRequest:
    recipient: str
    message: str
    send_on: date | None


def parse_gift_form(form: Mapping[str, str], today: date) -> tuple[GiftRequest | None, dict[str, str]]:
    """The buy form's gift fields (``gift``, ``recipient_email``, ``gift_message``, ``send_on``):
    ``(None, {})`` when it is not a gift, else the request or errors by field name."""
    if form.get("gift") != "yes":
        return None, {}
    errors: dict[str, str] = {}
    recipient = ""
    try:
        recipient = normalize_email(form.get("recipient_email", ""))
    except EmailError as exc:
        errors["recipient_email"] = str(exc)
    message = form.get("gift_message", "").replace("\r\n", "\n").strip()
    if len(message) > MESSAGE_MAX:
        errors["gift_message"] = f"A gift message holds at most {MESSAGE_MAX} characters."
    send_on: date | None = None
    raw_day = form.get("send_on", "").strip()
    if raw_day:
        try:
            send_on = date.fromisoformat(raw_day[:10]) if len(raw_day) == 10 else None
        except ValueError:
            send_on = None
        if send_on is None:
            errors["send_on"] = "Give the delivery day as YYYY-MM-DD."
        elif not today <= send_on <= today + timedelta(days=MAX_DAYS_AHEAD):
            errors["send_on"] = f"The delivery day must be between today and {MAX_DAYS_AHEAD} days from now."
    if errors:
        return None, errors
    return GiftRequest(recipient, message, send_on if send_on and send_on > today else None), {}


def _giver_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="gift-giver")


def attach(order: Order, request: GiftRequest | None) -> None:
    """Make ``order`` (pending) a gift as asked, or no gift when ``request`` is None (a buyer
    who continues a pending order may change their mind). Commits."""
    gift = gift_of(order.id)
    if request is None:
        if gift is not None:
            db.session.delete(gift)
            db.session.commit()
        return
    if gift is None:
        gift = Gift(order_id=order.id)
        db.session.add(gift)
    gift.recipient_email, gift.message = request.recipient, request.message
    gift.deliver_at = (datetime.combine(request.send_on, time(0), UTC) if request.send_on else utcnow())
    db.session.commit()


def gift_of(order_id: int) -> Gift | None:
    return db.session.scalar(select(Gift).where(Gift.order_id == order_id))


def gift_for_giver(token: str) -> Gift | None:
    """The gift a giver's page token opens (None for a forged one)."""
    try:
        gift_id = _giver_signer().loads(token[:200])
    except BadSignature:
        return None
    return db.session.get(Gift, gift_id) if isinstance(gift_id, int) else None


def giver_token(gift: Gift) -> str:
    """The token of the giver's page: the gift's id signed with ``SECRET_KEY`` (nothing stored;
    the page shows the delivery, never the music link)."""
    return str(_giver_signer().dumps(gift.id))


def send_giver_receipt(order: Order, gift: Gift) -> None:
    """The giver's receipt: what was paid, for whom and when, and the gift's page; no music link.

    :raises shop.mail.MailError: when it cannot be sent.
    """
    context = {"order": order, "pack": order.pack, "gift": gift,
               "status_url": absolute_url("gifts.status", token=giver_token(gift))}
    mail.send(mail.build_message(
        to=order.email, subject=f"Your gift of {order.pack.title}",
        text=render_template("gifts/mail/giver_receipt.txt", **context),
        html=render_template("gifts/mail/giver_receipt.html", **context)))


def deliver(gift_id: int, *, again: bool = False, now: datetime | None = None) -> bool:
    """Send the recipient their own link if the gift is due and unsent (or, with ``again``,
    once more after its first delivery); True if a mail went out. Commits."""
    now = now or utcnow()
    conditions = [Gift.id == gift_id, Gift.deliver_at <= now,
                  or_(Gift.sending_at.is_(None), Gift.sending_at < now - SEND_STALE)]
    conditions.append(Gift.sent_at.is_not(None) if again else Gift.sent_at.is_(None))
    claimed = cast(CursorResult[Any], db.session.execute(
        update(Gift).where(*conditions).values(sending_at=now).execution_options(synchronize_session=False)))
    db.session.commit()
    if claimed.rowcount != 1:
        return False
    gift = db.session.get(Gift, gift_id)
    assert gift is not None
    db.session.refresh(gift)
    order = gift.order
    if order.status != OrderStatus.PAID.value:
        gift.sending_at = None
        db.session.commit()
        return False
    token = mint_link(order)
    db.session.commit()
    context = {"order": order, "pack": order.pack, "gift": gift, "link": absolute_url("orders.show", token=token)}
    try:
        mail.send(mail.build_message(
            to=gift.recipient_email, subject=f"A gift for you: {order.pack.title}",
            text=render_template("gifts/mail/gift.txt", **context),
            html=render_template("gifts/mail/gift.html", **context)))
    except mail.MailError as exc:
        gift.sending_at, gift.last_error = None, str(exc)[:200]
        db.session.commit()
        log.warning("gift %s could not be mailed: %s", gift_id, exc)
        return False
    gift.sent_at = gift.sent_at or utcnow()
    gift.sends += 1
    gift.sending_at, gift.last_error = None, None
    db.session.commit()
    return True


def send_due(now: datetime | None = None) -> int:
    """Deliver every paid gift whose day has come and that no live send holds; the worker's
    sweep calls this. Returns how many mails went out."""
    now = now or utcnow()
    due = db.session.scalars(
        select(Gift.id).join(Order, Order.id == Gift.order_id)
        .where(Gift.sent_at.is_(None), Gift.deliver_at <= now, Order.status == OrderStatus.PAID.value,
               or_(Gift.sending_at.is_(None), Gift.sending_at < now - SEND_STALE))
        .order_by(Gift.deliver_at)
    ).all()
    db.session.commit()
    return sum(1 for gift_id in due if deliver(gift_id, now=now))
