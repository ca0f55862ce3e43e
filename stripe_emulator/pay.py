"""The hosted payment page a session's ``url`` points to: ``/c/pay/<session id>``.

Plain HTML forms (no JavaScript): a card number, and an IBAN when the session offers SEPA
Debit. Paying redirects (303) to ``success_url`` (for SEPA Debit as soon as the debit is
submitted: the session is complete but unpaid); a decline shows the page again with the
reason; the 3-D Secure test card goes through ``/c/authenticate/<session id>`` first; a link
goes back to ``cancel_url``. An expired or complete session shows a page
saying so.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from .emulator import AuthenticationNotPending, Emulator, SessionNotPayable, format_amount
from .wire import StripeError

bp = Blueprint("pay", __name__)

# No script may run on the page; forms may post anywhere because the answer redirects to
# the store's success URL, and browsers apply form-action to that redirect as well.
CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"


def _emulator() -> Emulator:
    emulator: Emulator = current_app.extensions["stripe_emulator"]
    return emulator


def _page(session_id: str, error: str | None = None, card: str = "", iban: str = "",
          status: int = 200) -> Response:
    try:
        session, items = _emulator().session_for_page(session_id)
    except StripeError:
        response = Response(render_template("stripe_emulator/missing.html"), 404)
        response.headers["Content-Security-Policy"] = CSP
        return response
    lines = [{"name": item["description"], "quantity": item["quantity"],
              "amount": format_amount(item["amount_total"], item["currency"])} for item in items]
    html = render_template("stripe_emulator/pay.html", session=session, lines=lines,
                           total=format_amount(session["amount_total"], session["currency"]),
                           error=error, card=card, iban=iban)
    response = Response(html, 410 if session["status"] == "expired" else status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/c/pay/<session_id>")
def show(session_id: str) -> Response:
    return _page(session_id)


@bp.post("/c/pay/<session_id>")
def submit(session_id: str) -> BaseResponse:
    """The card form, or the SEPA Debit form (``method=sepa_debit``, ``iban``, ``name``)."""
    card = request.form.get("cardnumber", "")
    iban = request.form.get("iban", "")
    try:
        if request.form.get("method") == "sepa_debit":
            result = _emulator().pay_sepa(session_id, iban, request.form.get("name") or None)
        else:
            result = _emulator().pay(session_id, card)
    except (StripeError, SessionNotPayable):
        return _page(session_id)
    if result.status == "requires_action":
        # Beside the session's own URL, so a --public-url origin is kept.
        session, _ = _emulator().session_for_page(session_id)
        return redirect(str(session["url"]).replace("/c/pay/", "/c/authenticate/"), 303)
    if result.redirect is not None:
        return redirect(result.redirect, 303)
    return _page(session_id, error=result.error, card=card, iban=iban, status=402)


@bp.get("/c/authenticate/<session_id>")
def challenge(session_id: str) -> BaseResponse:
    """Stripe's test 3-D Secure challenge: complete or fail the authentication."""
    try:
        session, _ = _emulator().session_for_page(session_id)
    except StripeError:
        return _page(session_id)
    intent = _emulator().payment_intents.get(session["payment_intent"] or "")
    if session["status"] != "open" or intent is None or intent["status"] != "requires_action":
        return redirect(url_for("pay.show", session_id=session_id), 303)
    html = render_template("stripe_emulator/authenticate.html", session=session,
                           total=format_amount(session["amount_total"], session["currency"]))
    response = Response(html)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/c/authenticate/<session_id>")
def answer_challenge(session_id: str) -> BaseResponse:
    """``outcome=complete`` pays and goes to ``success_url``; ``fail`` goes back to the
    payment page with Checkout's message."""
    try:
        result = _emulator().authenticate(session_id,
                                          request.form.get("outcome") == "complete")
    except (StripeError, SessionNotPayable, AuthenticationNotPending):
        return redirect(url_for("pay.show", session_id=session_id), 303)
    if result.redirect is not None:
        return redirect(result.redirect, 303)
    return _page(session_id, error=result.error, status=402)
