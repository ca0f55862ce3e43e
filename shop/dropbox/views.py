"""Dropbox delivery pages: Add to Dropbox (an album or the pack), progress, retry, fetch.

Space first: before a delivery is enqueued (and before a retry) the buyer's free space is
read; what does not fit is refused before anything starts (the answers are in
:mod:`shop.dropbox.answers`). Connecting is in :mod:`shop.dropbox.connect_views`.
"""

from __future__ import annotations

from flask import abort, current_app, redirect, request
from flask.typing import ResponseReturnValue

from shop import ratelimit
from shop.dropbox import bp
from shop.dropbox.answers import answer, ask, forget_refusal, no_space, order_url
from shop.dropbox.connect_views import begin_oauth
from shop.dropbox.deliveries import retry_delivery, target_albums
from shop.dropbox.delivery_progress import progress
from shop.dropbox.delivery_requests import Step
from shop.dropbox.fetch_urls import verify_file_token
from shop.dropbox.models import (
    IN_PROGRESS_STATUSES,
    PACK_TARGET,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    delivery_target,
)
from shop.dropbox.space import space_verdict
from shop.errors import error_response, wants_json
from shop.extensions import db
from shop.formats import FORMATS as BUYER_FORMATS
from shop.formats import canonical_format_id
from shop.models import FORMATS, Order
from shop.order_links import get_order, get_paid_order
from shop.storage import get_storage

# Add to Dropbox clicks per order and hour (double clicks and repeats included).
DELIVERIES_PER_HOUR = 20


def _refusal(order: Order, target: str, fmt: str, again: str) -> ResponseReturnValue | None:
    """The answer to a request that cannot be taken (bad form, too many), or None."""
    if fmt not in FORMATS:
        return error_response(400, "Choose one of the formats: " + ", ".join(f.label for f in BUYER_FORMATS) + ".")
    if not target_albums(order, target):
        abort(404)
    if again not in ("", "1"):
        return error_response(400, "To send a delivery again, use its Send again button.")
    allowed = ratelimit.allow(f"dropbox:deliver:order:{order.id}", DELIVERIES_PER_HOUR)
    db.session.commit()
    if not allowed:
        return error_response(429, "That is a lot of Dropbox deliveries for one order. Please wait a while "
                                   "and try again; everything delivered so far is in your Dropbox.")
    return None


def _start(token: str, target: str) -> ResponseReturnValue:
    order = get_paid_order(token)
    fmt = canonical_format_id(request.form.get("format", "")) or ""  # a form from before masters says "mp3"
    again = request.form.get("again", "")
    refusal = _refusal(order, target, fmt, again)
    if refusal is not None:
        return refusal
    outcome = ask(order, target, fmt, again == "1")
    if outcome.step is Step.CONNECT_FIRST:
        # One click: connect, and start what was asked on the way back.
        return begin_oauth(token, {"target": target, "format": fmt, "again": again})
    return answer(token, order, target, outcome)


@bp.post("/orders/<token>/dropbox/albums/<int:album_id>")
def deliver_album(token: str, album_id: int) -> ResponseReturnValue:
    return _start(token, delivery_target(album_id))


@bp.post("/orders/<token>/dropbox/pack")
def deliver_pack(token: str) -> ResponseReturnValue:
    return _start(token, PACK_TARGET)


def _delivery(token: str, delivery_id: int, paid_only: bool = True) -> Delivery:
    order = get_paid_order(token) if paid_only else get_order(token)
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None or delivery.order_id != order.id:
        abort(404)
    return delivery


@bp.get("/orders/<token>/dropbox/deliveries/<int:delivery_id>")
def delivery_status(token: str, delivery_id: int) -> ResponseReturnValue:
    # Also for an order that is no longer paid: its page shows why the delivery stopped.
    delivery = _delivery(token, delivery_id, paid_only=False)
    response = current_app.make_response(progress(delivery))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/orders/<token>/dropbox/deliveries/<int:delivery_id>/retry")
def retry(token: str, delivery_id: int) -> ResponseReturnValue:
    delivery = _delivery(token, delivery_id)
    if delivery.status in (DeliveryStatus.FAILED.value, DeliveryStatus.NEEDS_SPACE.value):
        # Space first, again: a retry that cannot fit would only park once more.
        verdict = space_verdict(delivery.order, delivery.target, delivery.format, delivery)
        if verdict is not None and not verdict.fits:
            return no_space(token, delivery.order, delivery.target, verdict)
        forget_refusal(delivery.order, delivery.target)
    retry_delivery(delivery)
    if wants_json():
        return progress(delivery), 202
    return redirect(order_url(token, f"delivery-{delivery.id}"), code=303)


@bp.get("/dropbox/files/<fetch_token>")
def fetch_file(fetch_token: str) -> ResponseReturnValue:
    """The signed URL Dropbox fetches in the save_url fallback: one file of a delivery under way."""
    delivery_file_id = verify_file_token(fetch_token)
    file = db.session.get(DeliveryFile, delivery_file_id) if delivery_file_id is not None else None
    if file is None or file.delivery.status not in IN_PROGRESS_STATUSES or not file.delivery.order.is_paid:
        abort(404)
    track_file = file.track_file
    storage = get_storage()
    chunks = storage.iter_range(track_file.storage_key, 0, track_file.size)
    response = current_app.response_class(chunks, mimetype="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Length"] = str(track_file.size)
    response.headers["Cache-Control"] = "private, no-store"
    return response
