"""The console's side of gifts: an order page shows its gift, and can send it again (audited)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import audit, bp
from shop.admin.views import operator
from shop.extensions import db
from shop.gifts.models import Gift
from shop.gifts.service import deliver, gift_of
from shop.models import Order


@bp.app_template_global("order_gift")
def order_gift(order_id: int) -> Gift | None:
    return gift_of(order_id)


@bp.post("/orders/<int:order_id>/resend-gift")
def resend_gift(order_id: int) -> BaseResponse:
    order = db.get_or_404(Order, order_id, description="No such order.")
    gift = gift_of(order.id)
    if gift is None or gift.sent_at is None or not order.is_paid:
        flash("There is no delivered gift on this paid order to send again.")
    elif deliver(gift.id, again=True):
        audit.record(operator(), "gift.resend", f"order:{order.id}", {"recipient": gift.recipient_email},
                     request.remote_addr)
        db.session.commit()
        flash(f"{gift.recipient_email} got a new link to the gift.")
    else:
        flash("The mail could not be sent (see the log); try again later.")
    return redirect(url_for("admin.order", order_id=order_id), 303)
