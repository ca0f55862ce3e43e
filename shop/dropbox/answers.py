"""The answers the Dropbox pages share: back to the order page, a problem page, and the
response to each :class:`~shop.dropbox.delivery_requests.Outcome` of a delivery request
(from the Add to Dropbox buttons and from the OAuth callback alike).

Space first: what does not fit is refused before anything starts. JSON clients get **409
Conflict** (the request conflicts with the state of the buyer's Dropbox; a 5xx such as 507
would say the store failed, and 507 is about the server's own storage) with
``{"reason": "insufficient_space", "error": <sentence>, "format", "needed", "free",
"fits": [{"format", "needed"}, ...]}``, sizes in bytes. Browsers go back to the order
page, whose Dropbox panel shows the same sentence next to the album or pack asked for.
"""

from __future__ import annotations

import time

from flask import abort, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from shop.dropbox.deliveries import OrderNotPaid
from shop.dropbox.delivery_progress import progress
from shop.dropbox.delivery_requests import Outcome, Step, request_delivery
from shop.dropbox.order_panel import SPACE_REFUSAL_KEY, space_refusal_anchor
from shop.dropbox.space import SpaceVerdict
from shop.errors import wants_json
from shop.models import Order


def order_url(token: str, anchor: str = "dropbox") -> str:
    return url_for("orders.show", token=token) + f"#{anchor}"


def problem_page(title: str, message: str, token: str | None, status: int) -> ResponseReturnValue:
    return render_template("dropbox/problem.html", title=title, message=message, token=token), status


def unreachable(token: str | None) -> ResponseReturnValue:
    return problem_page("Dropbox is unreachable", "We could not reach Dropbox just now. Nothing was changed; "
                        "go back to your order and try again in a minute.", token, 503)


def ask(order: Order, target: str, fmt: str, again: bool) -> Outcome:
    """:func:`~shop.dropbox.delivery_requests.request_delivery`; a 404 for an order refunded meanwhile."""
    try:
        return request_delivery(order, target, fmt, again=again)
    except OrderNotPaid:
        abort(404)  # refunded between the two queries


def answer(token: str, order: Order, target: str, outcome: Outcome) -> ResponseReturnValue:
    """The response to a delivery request's :class:`Outcome` (JSON clients get the delivery's progress)."""
    if outcome.step is Step.NO_SPACE:
        assert outcome.verdict is not None
        return no_space(token, order, target, outcome.verdict)
    delivery = outcome.delivery
    if delivery is None:  # connect first: the callback has just connected, so only a button gets it
        return redirect(order_url(token), code=303)
    if outcome.step is not Step.RECENTLY_DONE:
        forget_refusal(order, target)
    if outcome.step is Step.QUEUE_DOWN:
        message = ("Our delivery service is unavailable right now. Your request is saved and will start "
                   "by itself as soon as the service is back; try again shortly if nothing happens.")
        if wants_json():
            return {"error": message, "delivery": progress(delivery)}, 503
        return problem_page("Try again shortly", message, token, 503)
    if wants_json():
        return progress(delivery), 202 if outcome.step is Step.CREATED else 200
    return redirect(order_url(token, f"delivery-{delivery.id}"), code=303)


def no_space(token: str, order: Order, target: str, verdict: SpaceVerdict) -> ResponseReturnValue:
    """Refuse a delivery that does not fit: 409 with the numbers, or the order page saying them."""
    body = verdict.as_json()
    if wants_json():
        return {**body, "status": 409}, 409
    session[SPACE_REFUSAL_KEY] = {**body, "order_id": order.id, "target": target, "at": time.time()}
    return redirect(order_url(token, space_refusal_anchor(target)), code=303)


def forget_refusal(order: Order, target: str) -> None:
    refusal = session.get(SPACE_REFUSAL_KEY)
    if refusal and refusal.get("order_id") == order.id and refusal.get("target") == target:
        session.pop(SPACE_REFUSAL_KEY, None)
