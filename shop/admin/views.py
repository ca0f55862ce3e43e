"""The console's pages. Thin: the work happens in :mod:`shop.admin.operators`, ``orders``,
``stats``, ``charts`` and ``audit``.

Every URL here needs a logged-in operator (:func:`require_operator`, for the whole
blueprint, so a new route cannot forget it); every state change is a POST (CSRF from
the app-wide protection) and leaves an audit row (:func:`audit_every_post`).
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Response, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException, TooManyRequests
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import audit, bp, logins, operators, sessions, stats
from shop.admin import orders as admin_orders
from shop.admin.dashboard_charts import dashboard_charts
from shop.admin.models import Operator
from shop.email_address import EmailError
from shop.extensions import db
from shop.formatting import money
from shop.models import Order, Pack

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = {"admin.login"}
LOGIN_FAILED = "That e-mail, password or code is not right."


def operator() -> Operator:
    """The logged-in operator (only called behind :func:`require_operator`)."""
    user = current_user._get_current_object()
    assert isinstance(user, Operator)
    return user


@bp.before_request
def require_operator() -> BaseResponse | None:
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    return current_app.login_manager.unauthorized()  # type: ignore[attr-defined, no-any-return]


@bp.after_request
def audit_every_post(response: Response) -> Response:
    """A POST by an operator that its view did not audit (refused, failed) is audited here."""
    if request.method == "POST" and not audit.recorded_since_last_check() and current_user.is_authenticated:
        try:
            # ".attempt": the view did not record a change (refused, failed, or it forgot to).
            name = (request.endpoint or "admin.unknown").removeprefix("admin.")
            audit.record(operator(), f"{name}.attempt", request.path, {"status": response.status_code},
                         request.remote_addr)
            db.session.commit()
            audit.recorded_since_last_check()  # this row is no view's: the next request starts clean
        except Exception:
            db.session.rollback()
            log.exception("could not write the audit row for %s", request.endpoint)
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path of a console page (a GET route of ``admin.``, not the login), else None."""
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin/") or "//" in parts.path:
        return None
    try:
        endpoint, _ = current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:
        return None
    if not endpoint.startswith("admin.") or endpoint in PUBLIC_ENDPOINTS:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _too_many(message: str, wait: timedelta) -> TooManyRequests:
    seconds = max(1, math.ceil(wait.total_seconds()))
    return TooManyRequests(message.format(wait=f"{seconds} seconds" if seconds < 120 else f"{seconds // 60} minutes"),
                           retry_after=seconds)


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("admin.dashboard"))
    if request.method == "GET":
        return render_template("admin/login.html", email="", error=None, next_url=next_url)
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")[:1024]
    code = request.form.get("code", "")[:32]
    target = email.strip().lower()
    # Each attempt takes its slots atomically; a successful one gives them back, so only failures count.
    turn = logins.take_turn(email, request.remote_addr)
    db.session.commit()
    if turn.refused is not None:
        audit.count_refusal("login.throttled", target, request.remote_addr, logins.WINDOW)
        db.session.commit()
        raise _too_many("Too many failed logins from here. Wait {wait} and try again.", logins.WINDOW)
    # Inside the account's wait only the right password with the right TOTP code gets through.
    found = operators.authenticate(email, password, code, second_factor_required=turn.waiting)
    if found is None and turn.waiting:
        audit.count_refusal("login.delayed", target, request.remote_addr, logins.WINDOW)
        db.session.commit()
        raise _too_many("Too many failed logins for this account. Wait {wait} and try again.", turn.wait)
    if found is None:
        audit.record(None, "login.failed", target, {}, request.remote_addr)
        db.session.commit()
        return render_template("admin/login.html", email=email, error=LOGIN_FAILED, next_url=next_url), 401
    logins.give_back(turn)
    session.clear()  # nothing from before the login survives it (a fresh CSRF token too)
    login_user(found)
    sessions.begin(session, time.time())
    audit.record(found, "login", found.email, {}, request.remote_addr)
    db.session.commit()
    return redirect(next_url or url_for("admin.dashboard"))


@bp.post("/logout")
def logout() -> BaseResponse:
    audit.record(operator(), "logout", operator().email, {}, request.remote_addr)
    operators.end_sessions(operator())  # copies of this cookie, and the operator's other sessions
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("admin.login"), 303)


@bp.get("/")
def dashboard() -> str:
    packs = stats.selectable_packs()
    chosen = request.args.get("pack", type=int)
    pack = next((p for p in packs if p.id == chosen), None) if chosen else (packs[0] if packs else None)
    if chosen and pack is None:
        pack = db.get_or_404(Pack, chosen, description="No such pack.")
    board = stats.dashboard(pack) if pack is not None else None
    charts = dashboard_charts(board) if board is not None else {}
    return render_template("admin/dashboard.html", packs=packs, pack=pack, board=board, charts=charts)


@bp.get("/audit")
def audit_log() -> str:
    return render_template("admin/audit.html", page=audit.page(request.args.get("page", 1, type=int)))


@bp.get("/orders")
def orders() -> str:
    query = request.args.get("q", "")[:254]
    found = admin_orders.search(query)
    packs = db.session.scalars(db.select(Pack).order_by(Pack.starts_at.desc())).all()
    return render_template("admin/orders.html", query=query, results=found.orders, notice=found.notice,
                           packs=packs, limit=admin_orders.SEARCH_LIMIT)


def _order(order_id: int) -> Order:
    return db.get_or_404(Order, order_id, description="No such order.")


@bp.get("/orders/<int:order_id>")
def order(order_id: int) -> str:
    detail = admin_orders.detail(_order(order_id))
    return render_template("admin/order.html", detail=detail, order=detail.order,
                           reasons=admin_orders.REFUND_REASONS)


def _after_action(order_id: int) -> BaseResponse:
    return redirect(url_for("admin.order", order_id=order_id), 303)


NOT_MAILED = "but the mail could not be sent (see the log); resend the receipt later."


@bp.post("/orders/<int:order_id>/resend-receipt")
def resend_receipt(order_id: int) -> BaseResponse:
    found = _order(order_id)
    try:
        mailed = admin_orders.resend_receipt(found, operator(), request.remote_addr)
    except admin_orders.ActionError as exc:
        flash(str(exc))
    else:
        flash(f"A new link was mailed to {found.email}." if mailed else f"A new link was made, {NOT_MAILED}")
    return _after_action(order_id)


@bp.post("/orders/<int:order_id>/replace-links")
def replace_links(order_id: int) -> BaseResponse:
    found = _order(order_id)
    try:
        revoked, mailed = admin_orders.replace_links(found, operator(), request.remote_addr)
    except admin_orders.ActionError as exc:
        flash(str(exc))
    else:
        done = f"{revoked} old link(s) revoked and a new one made"
        flash(f"{done} and mailed to {found.email}." if mailed else f"{done}, {NOT_MAILED}")
    return _after_action(order_id)


@bp.post("/orders/<int:order_id>/restore-access")
def restore_access(order_id: int) -> BaseResponse:
    found = _order(order_id)
    try:
        admin_orders.restore_access(found, operator(), request.remote_addr)
    except admin_orders.ActionError as exc:
        flash(str(exc))
    else:
        flash(f"Order #{order_id} is paid again: its links and downloads work.")
    return _after_action(order_id)


@bp.post("/orders/<int:order_id>/refund")
def refund(order_id: int) -> BaseResponse:
    found = _order(order_id)
    try:
        amount = admin_orders.parse_refund_amount(request.form.get("amount", "")[:32], found.currency)
        reason = request.form.get("reason", "")[:64]
        answer = admin_orders.refund(found, amount, reason or None, operator(), request.remote_addr)
    except admin_orders.ActionError as exc:
        flash(f"No refund: {exc}")
        return _after_action(order_id)
    amount_text = money(answer.amount_cents, answer.currency)
    if answer.refund_id is None:
        flash(f"{amount_text} recorded as refunded; the order's access is revoked."
              if answer.revoked_now else "The order was already refunded.")
    else:
        flash(f"Stripe accepted the refund of {amount_text} ({answer.refund_id}, {answer.status or 'pending'}). "
              "The order shows it once Stripe's event arrives.")
    return _after_action(order_id)


@bp.post("/grants")
def grant() -> BaseResponse:
    pack = db.get_or_404(Pack, request.form.get("pack_id", type=int) or 0, description="No such pack.")
    try:
        granted, mailed = admin_orders.grant(pack, request.form.get("email", ""), operator(), request.remote_addr)
    except EmailError as exc:
        flash(f"No copy granted: {exc}")
        return redirect(url_for("admin.orders"), 303)
    flash(f"{granted.email} got a free copy of {pack.title}" + ("." if mailed else f", {NOT_MAILED}"))
    return _after_action(granted.id)


@bp.get("/packs/<int:pack_id>/orders.csv")
def pack_orders_csv(pack_id: int) -> Response:
    pack = db.get_or_404(Pack, pack_id, description="No such pack.")
    body = "".join(admin_orders.pack_orders_csv(pack))
    audit.export(operator(), "pack.orders_csv", f"pack:{pack.id}", body.count("\n") - 1, request.remote_addr)
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{pack.slug}-orders.csv"'
    return response
