"""The order page behind a secret link, and "I lost my link"."""

from __future__ import annotations

import hashlib
import time

from flask import abort, current_app, render_template, request

from shop import ratelimit
from shop.email_address import EmailError, normalize_email
from shop.extensions import db
from shop.order_links import get_order
from shop.orders import bp
from shop.orders.page import order_page_context
from shop.orders.service import resend_links


@bp.get("/orders/<token>")
def show(token: str):
    order = get_order(token)
    response = current_app.make_response(
        render_template("orders/show.html", token=token, refresh_stamp=time.monotonic_ns(),
                        **order_page_context(order, token))
    )
    # The URL is a secret: keep the page out of shared caches and browser history caches.
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/orders/lost", methods=["GET", "POST"])
def lost():
    if request.method == "GET":
        return render_template("orders/lost.html", email="", error=None, sent=False)
    raw = request.form.get("email", "")
    try:
        email = normalize_email(raw)
    except EmailError as exc:
        return render_template("orders/lost.html", email=raw[:300], error=str(exc), sent=False), 400
    client_ok = ratelimit.allow(f"lost:client:{request.remote_addr}", current_app.config["LOST_LINKS_PER_CLIENT"])
    address_key = hashlib.sha256(email.encode()).hexdigest()[:32]
    address_ok = client_ok and ratelimit.allow(
        f"lost:address:{address_key}", current_app.config["LOST_LINKS_PER_ADDRESS"]
    )
    db.session.commit()
    if not (client_ok and address_ok):
        abort(429, "You have asked for links several times in a short while. Please wait an hour and try again.")
    resend_links(email)
    return render_template("orders/lost.html", email=email, error=None, sent=True)
