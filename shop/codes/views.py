"""``/redeem``: a download code and an e-mail address give an order."""

from __future__ import annotations

import logging

from flask import abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from shop import ratelimit
from shop.codes import bp
from shop.codes.redeem import CodeRefused, redeem
from shop.email_address import EmailError
from shop.extensions import db
from shop.mail import MailError
from shop.orders.receipts import send_receipt

log = logging.getLogger(__name__)


@bp.route("/redeem", methods=["GET", "POST"])
def redeem_page() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("codes/redeem.html", code="", email="", errors={})
    code = request.form.get("code", "")[:64]
    email = request.form.get("email", "")[:300]
    # Every attempt counts, right or wrong: the limit is what makes guessing hopeless.
    allowed = ratelimit.allow(f"redeem:client:{request.remote_addr}", current_app.config["REDEEMS_PER_CLIENT"])
    db.session.commit()
    if not allowed:
        abort(429, "You have tried many codes in a short while. Please wait an hour and try again.")
    try:
        order, token, created = redeem(code, email)
    except EmailError as exc:
        return render_template("codes/redeem.html", code=code, email=email, errors={"email": str(exc)}), 400
    except CodeRefused as exc:
        return render_template("codes/redeem.html", code=code, email=email, errors={"code": str(exc)}), 400
    if created:
        try:
            send_receipt(order, token)
        except MailError:
            # The order stands; the buyer is on its page now, and /orders/lost mails a new link.
            log.exception("receipt for code order %s could not be sent", order.id)
    return redirect(url_for("orders.show", token=token), 303)
