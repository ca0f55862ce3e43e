"""The order page behind a secret link, and "I lost my link"."""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Response, abort, current_app, render_template, request

from shop import ratelimit
from shop.email_address import EmailError, normalize_email
from shop.extensions import db
from shop.mail import MailError
from shop.orders import bp
from shop.orders.page import FormatChoice, find_order_with_pack, order_page_context
from shop.orders.service import resend_links

log = logging.getLogger(__name__)

MAIL_DOWN_RETRY_AFTER = 300
MAIL_DOWN = "We could not send mail just now; please try again in a few minutes."


#: The buyer's download format, remembered for their next visit and their other orders.
FORMAT_COOKIE = "shop_format"
FORMAT_COOKIE_MAX_AGE = 365 * 24 * 60 * 60


@bp.get("/orders/<token>")
def show(token: str) -> Response:
    """The order page, its downloads in one format: ``?format=``, else the buyer's cookie,
    else the first format. A known ``?format=`` is remembered in the cookie; an unknown one
    is a 400 that still shows the page (in the fallback format, with a notice)."""
    found = find_order_with_pack(token)
    if found is None:
        abort(404)
    context = order_page_context(*found, token, request.args.get("format"), request.cookies.get(FORMAT_COOKIE))
    choice: FormatChoice = context["format_choice"]
    response = current_app.make_response(
        (render_template("orders/show.html", token=token, refresh_stamp=time.monotonic_ns(), **context),
         400 if choice.unknown else 200)
    )
    # The URL is a secret: keep the page out of shared caches and browser history caches.
    response.headers["Cache-Control"] = "private, no-store"
    if choice.remember:
        # A preference, not a secret, but scripts have no use for it; only the order pages read it.
        response.set_cookie(FORMAT_COOKIE, choice.remember, max_age=FORMAT_COOKIE_MAX_AGE, path="/orders",
                            secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")
    return response


@bp.route("/orders/lost", methods=["GET", "POST"])
def lost() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("orders/lost.html", email="", error=None, sent=False)
    raw = request.form.get("email", "")
    try:
        email = normalize_email(raw)
    except EmailError as exc:
        return render_template("orders/lost.html", email=raw[:300], error=str(exc), sent=False), 400
    client_bucket = f"lost:client:{request.remote_addr}"
    address_bucket = f"lost:address:{hashlib.sha256(email.encode()).hexdigest()[:32]}"
    client_ok = ratelimit.allow(client_bucket, current_app.config["LOST_LINKS_PER_CLIENT"])
    address_ok = client_ok and ratelimit.allow(address_bucket, current_app.config["LOST_LINKS_PER_ADDRESS"])
    db.session.commit()
    if not (client_ok and address_ok):
        abort(429, "You have asked for links several times in a short while. Please wait an hour and try again.")
    try:
        resend_links(email)
    except MailError:
        # The fresh links are committed but unmailed, which is harmless. The buyer did not
        # get what they asked for, so the request does not count against their limits.
        log.warning("lost-links mail could not be sent", exc_info=True)
        db.session.rollback()
        ratelimit.forget_last(client_bucket)
        ratelimit.forget_last(address_bucket)
        db.session.commit()
        response = current_app.make_response(
            (render_template("orders/lost.html", email=email, error=None, sent=False, problem=MAIL_DOWN), 503)
        )
        response.headers["Retry-After"] = str(MAIL_DOWN_RETRY_AFTER)
        return response
    return render_template("orders/lost.html", email=email, error=None, sent=True)
