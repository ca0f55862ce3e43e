"""Wiring the console into the app: blueprint, logins, the admin session cookie, the CLI."""

from __future__ import annotations

from flask import Flask, request, url_for
from flask_login import LoginManager  # type: ignore[import-untyped]
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from shop.admin.models import Operator
from shop.admin.sessions import AdminAwareSessionInterface
from shop.errors import error_response, wants_json
from shop.extensions import db


def load_operator(operator_id: str) -> Operator | None:
    """The logged-in operator, or None (then the session is anonymous) when gone or disabled."""
    if not operator_id.isdigit():
        return None
    operator = db.session.get(Operator, int(operator_id))
    return operator if operator is not None and not operator.disabled else None


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

    app.session_interface = AdminAwareSessionInterface()
    login_manager = LoginManager()
    login_manager.user_loader(load_operator)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(operators_cli)
    app.cli.add_command(mailing_cli)
