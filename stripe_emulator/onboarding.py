"""The hosted Connect onboarding an Account Link's ``url`` points to:
``/setup/e/<account id>/<token>``.

A plain HTML form (no JavaScript) with three buttons, posted back to the same URL as
``action``: ``complete`` submits the account's details and redirects (303) to the link's
``return_url``; ``later`` ("Save for later") changes nothing and also goes to ``return_url``;
``leave`` goes to ``refresh_url``. The link is single-use: once the form is answered, or when
the page is opened a second time (a reload, a link preview), or after it expires, the page
says so (410) and offers the ``refresh_url``, where the platform makes a new link.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from .emulator import Emulator, LinkState
from .pay import CSP

bp = Blueprint("onboarding", __name__)


def _emulator() -> Emulator:
    emulator: Emulator = current_app.extensions["stripe_emulator"]
    return emulator


def _html(html: str, status: int = 200) -> Response:
    response = Response(html, status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _problem(state: LinkState) -> Response:
    status = 404 if state.link is None else 410
    refresh_url = None if state.link is None else state.link["refresh_url"]
    return _html(render_template("stripe_emulator/link_error.html", problem=state.problem,
                                 refresh_url=refresh_url), status)


@bp.get("/setup/e/<account_id>/<token>")
def show(account_id: str, token: str) -> Response:
    state = _emulator().open_link(account_id, token)
    if state.problem is not None or state.account is None:
        return _problem(state)
    return _html(render_template("stripe_emulator/onboarding.html", account=state.account))


@bp.post("/setup/e/<account_id>/<token>")
def answer(account_id: str, token: str) -> BaseResponse:
    action = request.form.get("action", "")
    if action not in ("complete", "later", "leave"):
        return _html(render_template("stripe_emulator/link_error.html",
                                     problem="Choose one of the page's buttons.",
                                     refresh_url=None), 400)
    target, state = _emulator().finish_link(account_id, token, action)
    if target is None:
        return _problem(state)
    return redirect(target, 303)
