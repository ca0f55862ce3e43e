"""The list's pages: ask to join (``POST /notify``), confirm, and unsubscribe.

GET never changes anything (mail scanners follow links): the confirmation and unsubscribe
links open pages whose button POSTs. The unsubscribe URL also takes the one-click POST of
RFC 8058 from mail providers, which comes without cookies, so it is exempt from CSRF; its
signed token is what authorises it.
"""

from __future__ import annotations

import hashlib
import logging

from flask import abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from shop import ratelimit
from shop.email_address import EmailError, normalize_email
from shop.extensions import csrf, db
from shop.mail import MailError
from shop.mailing import bp, subscriptions
from shop.mailing.models import SubscriberStatus

log = logging.getLogger(__name__)


def _source() -> str:
    """Where the form was (its page's path), for the proof of consent."""
    return request.form.get("source", "")[:200] or request.path


@bp.route("/notify", methods=["GET", "POST"])
def notify() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("mailing/notify.html", email="", error=None, asked=False)
    raw = request.form.get("email", "")[:300]
    try:
        address = normalize_email(raw)
    except EmailError as exc:
        return render_template("mailing/notify.html", email=raw, error=str(exc), asked=False), 400
    client_ok = ratelimit.allow(f"notify:client:{request.remote_addr}", current_app.config["NOTIFY_PER_CLIENT"])
    address_bucket = f"notify:address:{hashlib.sha256(address.encode()).hexdigest()[:32]}"
    address_ok = client_ok and ratelimit.allow(address_bucket, current_app.config["NOTIFY_PER_ADDRESS"])
    db.session.commit()
    if not (client_ok and address_ok):
        abort(429, "You have asked several times in a short while. Please wait an hour and try again.")
    subscriber = subscriptions.request_subscription(address, source=_source(), ip=request.remote_addr)
    if subscriber is not None:
        try:
            subscriptions.send_confirmation(subscriber)
        except MailError:
            log.warning("confirmation mail could not be sent", exc_info=True)
            abort(503, "We could not send mail just now; please try again in a few minutes.")
    # The same answer for a new, a pending, a confirmed and an unsubscribed address.
    return render_template("mailing/notify.html", email=address, error=None, asked=True)


@bp.route("/notify/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> ResponseReturnValue:
    link = subscriptions.read_confirm_token(token)
    if link is None:
        abort(404, "This confirmation link is not valid any more. Ask again from any pack page.")
    if request.method == "GET":
        done = link.subscriber.status == SubscriberStatus.CONFIRMED.value
        return render_template("mailing/confirm.html", token=token, email=link.subscriber.email, done=done)
    if not subscriptions.confirm(link):
        abort(410, "You left the list after this link was sent. Ask again from any pack page to join again.")
    return render_template("mailing/confirm.html", token=token, email=link.subscriber.email, done=True)


@bp.get("/unsubscribe/<token>")
def unsubscribe(token: str) -> ResponseReturnValue:
    subscriber = subscriptions.subscriber_for_unsubscribe(token)
    if subscriber is None:
        abort(404, "This unsubscribe link is not valid.")
    done = subscriber.status == SubscriberStatus.UNSUBSCRIBED.value
    return render_template("mailing/unsubscribe.html", token=token, email=subscriber.email, done=done)


@bp.post("/unsubscribe/<token>")
def unsubscribe_post(token: str) -> ResponseReturnValue:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``, form-encoded or multipart) and
    the page's own button alike: no cookies needed, no redirect in the answer."""
    subscriber = subscriptions.subscriber_for_unsubscribe(token)
    if subscriber is None:
        abort(404, "This unsubscribe link is not valid.")
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    subscriptions.unsubscribe(subscriber, "one-click" if one_click else "page")
    return render_template("mailing/unsubscribe.html", token=token, email=subscriber.email, done=True)


# Mail providers POST here without cookies (RFC 8058): the signed token is the authorisation.
csrf.exempt(unsubscribe_post)
