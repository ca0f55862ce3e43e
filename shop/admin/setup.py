"""Wiring the console into the app: blueprint, logins, the admin session cookie, the CLI."""

from __future__ import annotations

import time

from flask import Flask, current_app, request, session, url_for
from flask_login import LoginManager  # type: ignore[import-untyped]
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from shop.admin.models import Operator
from shop.admin.sessions import AdminAwareSessionInterface, parse_session_id, still_alive
from shop.errors import error_response, wants_json
from shop.extensions import db


def load_operator(session_id: str) -> Operator | None:
    """The logged-in operator, or None (then the session is anonymous) when the operator is
    gone or disabled, the session was ended (its version is not the operator's), or it has
    been idle or alive too long (:mod:`shop.admin.sessions`)."""
    parsed = parse_session_id(session_id)
    if parsed is None:
        return None
    operator = db.session.get(Operator, parsed[0])
    if operator is None or operator.disabled or operator.session_version != parsed[1]:
        return None
    config = current_app.config
    if not still_alive(session, time.time(), config["ADMIN_IDLE_MINUTES"] * 60,
                       config["ADMIN_SESSION_HOURS"] * 3600):
        return None
    return operator


def unauthorized() -> Response:
    if wants_json():
        return error_response(401, "Log in to the operator console first.")
    # Back to the page asked for after the login (checked there: only console pages).
    wanted = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin.login", next=wanted))


def register(app: Flask) -> None:
    from shop.admin import bp
    from shop.admin.cli import operators_cli
    from shop.admin.mailing_cli import mailing_cli
    from shop.admin.orders_cli import orders_cli
    from shop.admin.payouts_cli import payouts_cli

    app.session_interface = AdminAwareSessionInterface()
    login_manager = LoginManager()
    login_manager.user_loader(load_operator)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(operators_cli)
    app.cli.add_command(orders_cli)
    app.cli.add_command(mailing_cli)
    app.cli.add_command(payouts_cli)
