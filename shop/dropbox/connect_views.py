"""Connecting a buyer's Dropbox: the Connect button (OAuth), the callback, Disconnect.

The callback also starts the delivery asked for before connecting (one click), decided as
the Add to Dropbox buttons decide it (:func:`shop.dropbox.delivery_requests.request_delivery`).
"""

from __future__ import annotations

import logging
import secrets

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
from flask import abort, redirect, request, session
from flask.typing import ResponseReturnValue

from shop.dropbox import bp, connections
from shop.dropbox.answers import answer, ask, order_url, problem_page, unreachable
from shop.dropbox.client import DropboxNotConfigured, web_url
from shop.dropbox.deliveries import resume_after_reconnect
from shop.extensions import db
from shop.models import Order, OrderLink
from shop.order_links import get_order, get_paid_order, live_link_id, mint_link

log = logging.getLogger(__name__)

_CONNECT_KEY = "dropbox_connect"
# In the connect session entry: the delivery asked for before connecting, started on the way back.
_PENDING_DELIVERY = "pending_delivery"


@bp.get("/orders/<token>/dropbox/connect")
def connect_link(token: str) -> ResponseReturnValue:
    """The old GET address: it starts nothing (an order link opened in someone else's browser
    must not connect their Dropbox), it only leads to the order page and its Connect button."""
    get_order(token)
    return redirect(order_url(token), code=303)


@bp.post("/orders/<token>/dropbox/connect")
def connect(token: str) -> ResponseReturnValue:
    """Start Dropbox OAuth for this order: a CSRF-protected POST from the order page."""
    get_paid_order(token)
    return begin_oauth(token, None)


def begin_oauth(token: str, pending_delivery: dict[str, str] | None) -> ResponseReturnValue:
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
        return problem_page("Dropbox not connected", "You chose not to connect Dropbox. Nothing was changed; "
                            "you can still download everything as zips.", _fresh_token(order), 200)
    except (BadStateException, CsrfException):
        return problem_page("Please start again", "This Dropbox sign-in did not start from this browser session "
                            "or has already been used. Go back to your order and press Connect again.",
                            _fresh_token(order), 400)
    except (BadRequestException, ProviderException):
        return problem_page("Dropbox sign-in failed", "Dropbox sent back an answer we could not use. "
                            "Go back to your order and try again.", _fresh_token(order), 400)
    except requests.HTTPError:
        return problem_page("Dropbox sign-in expired", "This authorisation code has expired or was already used. "
                            "Go back to your order and press Connect again.", _fresh_token(order), 400)
    except requests.RequestException as exc:
        log.warning("Dropbox sign-in could not be finished: %s", type(exc).__name__)
        return unreachable(_fresh_token(order))


def _save_connection(order: Order, result: OAuth2FlowResult, token: str) -> ResponseReturnValue | None:
    """Keep the new connection; the page that says why not when Dropbox does not answer."""
    try:
        connections.save_connection(order, result)
    except requests.RequestException as exc:
        log.warning("could not read the new Dropbox account for order %s: %s", order.id, type(exc).__name__)
        return unreachable(token)
    except DropboxException as exc:
        log.warning("could not read the new Dropbox account for order %s: %s", order.id, type(exc).__name__)
        return problem_page("Dropbox sign-in failed", "Dropbox did not answer as expected. Please try again.", token,
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
        return problem_page("Please start again", "This Dropbox sign-in does not belong to the order open in this "
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
        return redirect(order_url(token), code=303)
    # What was asked before connecting, decided as the button decides it.
    target, fmt = asked["target"], asked["format"]
    return answer(token, order, target, ask(order, target, fmt, again=bool(asked.get("again"))))


@bp.post("/orders/<token>/dropbox/disconnect")
def disconnect(token: str) -> ResponseReturnValue:
    order = get_paid_order(token)
    connections.disconnect(order)
    return redirect(order_url(token), code=303)
