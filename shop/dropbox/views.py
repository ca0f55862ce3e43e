"""Dropbox pages: connect (OAuth), callback, disconnect, deliver, progress, retry, fetch.

Space first: before a delivery is enqueued (and before a retry) the buyer's free space is
read; what does not fit is refused before anything starts. JSON clients get **409
Conflict** (the request conflicts with the state of the buyer's Dropbox; a 5xx such as 507
would say the store failed, and 507 is about the server's own storage) with
``{"reason": "insufficient_space", "error": <sentence>, "format", "needed", "free",
"fits": [{"format", "needed"}, ...]}``, sizes in bytes. Browsers go back to the order
page, whose Dropbox panel shows the same sentence next to the album or pack asked for.
"""

from __future__ import annotations

import logging
import secrets
import time

import requests
from dropbox.exceptions import DropboxException
from dropbox.oauth import (
    BadRequestException,
    BadStateException,
    CsrfException,
    NotApprovedException,
    OAuth2FlowResult,
    ProviderException,
)
from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from shop import ratelimit
from shop.dropbox import bp, connections
from shop.dropbox.client import DropboxNotConfigured, web_url
from shop.dropbox.deliveries import OrderNotPaid, progress, resume_after_reconnect, retry_delivery, target_albums
from shop.dropbox.delivery_requests import Outcome, Step, request_delivery
from shop.dropbox.fetch_urls import verify_file_token
from shop.dropbox.models import (
    IN_PROGRESS_STATUSES,
    PACK_TARGET,
    Delivery,
    DeliveryFile,
    DeliveryStatus,
    delivery_target,
)
from shop.dropbox.order_panel import SPACE_REFUSAL_KEY, space_refusal_anchor
from shop.dropbox.space import SpaceVerdict, space_verdict
from shop.errors import error_response, wants_json
from shop.extensions import db
from shop.formats import FORMATS as BUYER_FORMATS
from shop.formats import canonical_format_id
from shop.models import FORMATS, Order, OrderLink
from shop.order_links import get_order, get_paid_order, live_link_id, mint_link
from shop.storage import get_storage

log = logging.getLogger(__name__)

_CONNECT_KEY = "dropbox_connect"
# Add to Dropbox clicks per order and hour (double clicks and repeats included).
DELIVERIES_PER_HOUR = 20
# In the connect session entry: the delivery asked for before connecting, started on the way back.
_PENDING_DELIVERY = "pending_delivery"


def _order_url(token: str, anchor: str = "dropbox") -> str:
    return url_for("orders.show", token=token) + f"#{anchor}"


def _problem(title: str, message: str, token: str | None, status: int) -> ResponseReturnValue:
    return render_template("dropbox/problem.html", title=title, message=message, token=token), status


def _unreachable(token: str | None) -> ResponseReturnValue:
    return _problem("Dropbox is unreachable", "We could not reach Dropbox just now. Nothing was changed; "
                    "go back to your order and try again in a minute.", token, 503)


@bp.get("/orders/<token>/dropbox/connect")
def connect_link(token: str) -> ResponseReturnValue:
    """The old GET address: it starts nothing (an order link opened in someone else's browser
    must not connect their Dropbox), it only leads to the order page and its Connect button."""
    get_order(token)
    return redirect(_order_url(token), code=303)


@bp.post("/orders/<token>/dropbox/connect")
def connect(token: str) -> ResponseReturnValue:
    """Start Dropbox OAuth for this order: a CSRF-protected POST from the order page."""
    get_paid_order(token)
    return _begin_oauth(token, None)


def _begin_oauth(token: str, pending_delivery: dict[str, str] | None) -> ResponseReturnValue:
    """Send the buyer to Dropbox's consent page; the callback finishes for this order.

    The session cookie is signed, not encrypted, so it keeps the id of the order link the
    buyer came through, never the link's token; the callback sends the buyer back through
    a fresh link of the same order.

    :param pending_delivery: ``{"target", "format"}`` to start once connected (one click), if any.
    """
    link_id = live_link_id(token)
    if link_id is None:
        abort(404)
    try:
        flow = connections.oauth_flow(session)
    except DropboxNotConfigured:
        abort(503, "Dropbox delivery is not set up in this store.")
    nonce = secrets.token_urlsafe(16)
    session[_CONNECT_KEY] = {"nonce": nonce, "link_id": link_id, _PENDING_DELIVERY: pending_delivery}
    return redirect(web_url(flow.start(url_state=nonce)), code=303)


def _order_of(pending: dict[str, object]) -> Order | None:
    """The paid order whose link (still live) started this connect, or ``None``."""
    link_id = pending.get("link_id")
    link = db.session.get(OrderLink, link_id) if isinstance(link_id, int) else None
    if link is None or link.revoked_at is not None or not link.order.is_paid:
        return None
    return link.order


def _fresh_token(order: Order | None) -> str | None:
    """A new link to ``order`` for the way back (the cookie never held the buyer's token)."""
    if order is None:
        return None
    token = mint_link(order)
    db.session.commit()
    return token


def _finish_oauth(order: Order | None) -> OAuth2FlowResult | ResponseReturnValue:
    """Dropbox's answer to the consent page: the new tokens, or the page that says what went wrong."""
    try:
        return connections.oauth_flow(session).finish(request.args.to_dict())
    except DropboxNotConfigured:
        abort(503, "Dropbox delivery is not set up in this store.")
    except NotApprovedException:
        return _problem("Dropbox not connected", "You chose not to connect Dropbox. Nothing was changed; "
                        "you can still download everything as zips.", _fresh_token(order), 200)
    except (BadStateException, CsrfException):
        return _problem("Please start again", "This Dropbox sign-in did not start from this browser session "
                        "or has already been used. Go back to your order and press Connect again.",
                        _fresh_token(order), 400)
    except (BadRequestException, ProviderException):
        return _problem("Dropbox sign-in failed", "Dropbox sent back an answer we could not use. "
                        "Go back to your order and try again.", _fresh_token(order), 400)
    except requests.HTTPError:
        return _problem("Dropbox sign-in expired", "This authorisation code has expired or was already used. "
                        "Go back to your order and press Connect again.", _fresh_token(order), 400)
    except requests.RequestException as exc:
        log.warning("Dropbox sign-in could not be finished: %s", type(exc).__name__)
        return _unreachable(_fresh_token(order))


def _save_connection(order: Order, result: OAuth2FlowResult, token: str) -> ResponseReturnValue | None:
    """Keep the new connection; the page that says why not when Dropbox does not answer."""
    try:
        connections.save_connection(order, result)
    except requests.RequestException as exc:
        log.warning("could not read the new Dropbox account for order %s: %s", order.id, type(exc).__name__)
        return _unreachable(token)
    except DropboxException as exc:
        log.warning("could not read the new Dropbox account for order %s: %s", order.id, type(exc).__name__)
        return _problem("Dropbox sign-in failed", "Dropbox did not answer as expected. Please try again.", token,
                        502)
    return None


@bp.get("/dropbox/callback")
def callback() -> ResponseReturnValue:
    pending = session.get(_CONNECT_KEY) or {}
    order = _order_of(pending)
    result = _finish_oauth(order)
    if not isinstance(result, OAuth2FlowResult):
        return result
    if not pending.get("link_id") or result.url_state != pending.get("nonce"):
        return _problem("Please start again", "This Dropbox sign-in does not belong to the order open in this "
                        "browser. Go back to your order and press Connect again.", _fresh_token(order), 400)
    session.pop(_CONNECT_KEY, None)
    if order is None:
        abort(404)  # refunded, disputed or its link revoked since Connect was pressed
    token = _fresh_token(order)
    assert token is not None
    failed = _save_connection(order, result, token)
    if failed is not None:
        return failed
    resume_after_reconnect(order.id)
    asked = pending.get(_PENDING_DELIVERY)
    if not asked:
        return redirect(_order_url(token), code=303)
    # What was asked before connecting, decided as the button decides it.
    return _answer(token, order, asked["target"], _request(order, asked["target"], asked["format"],
                                                           bool(asked.get("again"))))


@bp.post("/orders/<token>/dropbox/disconnect")
def disconnect(token: str) -> ResponseReturnValue:
    order = get_paid_order(token)
    connections.disconnect(order)
    return redirect(_order_url(token), code=303)


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
    outcome = _request(order, target, fmt, again == "1")
    if outcome.step is Step.CONNECT_FIRST:
        # One click: connect, and start what was asked on the way back.
        return _begin_oauth(token, {"target": target, "format": fmt, "again": again})
    return _answer(token, order, target, outcome)


def _request(order: Order, target: str, fmt: str, again: bool) -> Outcome:
    try:
        return request_delivery(order, target, fmt, again=again)
    except OrderNotPaid:
        abort(404)  # refunded between the two queries


def _answer(token: str, order: Order, target: str, outcome: Outcome) -> ResponseReturnValue:
    """The response to a delivery request's :class:`Outcome` (JSON clients get the delivery's progress)."""
    if outcome.step is Step.NO_SPACE:
        assert outcome.verdict is not None
        return _no_space(token, order, target, outcome.verdict)
    delivery = outcome.delivery
    if delivery is None:  # connect first: the callback has just connected, so only a button gets it
        return redirect(_order_url(token), code=303)
    if outcome.step is not Step.RECENTLY_DONE:
        _forget_refusal(order, target)
    if outcome.step is Step.QUEUE_DOWN:
        message = ("Our delivery service is unavailable right now. Your request is saved and will start "
                   "by itself as soon as the service is back; try again shortly if nothing happens.")
        if wants_json():
            return {"error": message, "delivery": progress(delivery)}, 503
        return _problem("Try again shortly", message, token, 503)
    if wants_json():
        return progress(delivery), 202 if outcome.step is Step.CREATED else 200
    return redirect(_order_url(token, f"delivery-{delivery.id}"), code=303)


def _no_space(token: str, order: Order, target: str, verdict: SpaceVerdict) -> ResponseReturnValue:
    """Refuse a delivery that does not fit: 409 with the numbers, or the order page saying them."""
    body = verdict.as_json()
    if wants_json():
        return {**body, "status": 409}, 409
    session[SPACE_REFUSAL_KEY] = {**body, "order_id": order.id, "target": target, "at": time.time()}
    return redirect(_order_url(token, space_refusal_anchor(target)), code=303)


def _forget_refusal(order: Order, target: str) -> None:
    refusal = session.get(SPACE_REFUSAL_KEY)
    if refusal and refusal.get("order_id") == order.id and refusal.get("target") == target:
        session.pop(SPACE_REFUSAL_KEY, None)


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
            return _no_space(token, delivery.order, delivery.target, verdict)
        _forget_refusal(delivery.order, delivery.target)
    retry_delivery(delivery)
    if wants_json():
        return progress(delivery), 202
    return redirect(_order_url(token, f"delivery-{delivery.id}"), code=303)


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
