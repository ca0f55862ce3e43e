"""The giver's page: whether the gift was delivered, and "send it again" (audited, like the
console's resend, in the audit log of :mod:`shop.audit_log`)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from shop import ratelimit
from shop.audit_log import record_event
from shop.extensions import db
from shop.gifts import bp
from shop.gifts.service import deliver, gift_for_giver

RESENDS_PER_HOUR = 3


@bp.get("/gifts/<token>")
def status(token: str) -> ResponseReturnValue:
    gift = gift_for_giver(token)
    if gift is None:
        abort(404)
    response = render_template("gifts/status.html", gift=gift, order=gift.order, pack=gift.order.pack, token=token)
    return response, 200, {"Cache-Control": "private, no-store"}


@bp.post("/gifts/<token>/resend")
def resend(token: str) -> ResponseReturnValue:
    gift = gift_for_giver(token)
    if gift is None:
        abort(404)
    if gift.sent_at is None:
        flash("The gift has not been delivered yet; it goes out on its day.")
        return redirect(url_for("gifts.status", token=token), 303)
    allowed = ratelimit.allow(f"gift:resend:{gift.id}", RESENDS_PER_HOUR)
    db.session.commit()
    if not allowed:
        abort(429, "This gift was sent again several times in the last hour. Please wait and try again.")
    if deliver(gift.id, again=True):
        record_event(None, "gift.resend", f"order:{gift.order_id}", {"recipient": gift.recipient_email, "by": "giver"},
                     request.remote_addr)
        db.session.commit()
        flash(f"We sent {gift.recipient_email} their link again.")
    else:
        flash("We could not send it just now; please try again in a few minutes.")
    return redirect(url_for("gifts.status", token=token), 303)
