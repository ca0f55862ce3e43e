"""The console's payout pages: ``/admin/payouts`` (runs of ``flask payouts run`` and every
transfer with its Stripe id, status and error), and recording a payout made by hand from an
artist's page (the ``admin/_artist_payouts.html`` panel). The work is in :mod:`shop.payouts`;
a recorded payout leaves an audit row, and a refused one the console's ``.attempt`` row."""

from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import audit, bp
from shop.admin.views import operator, safe_next
from shop.artists import Artist
from shop.currencies import CURRENCIES
from shop.extensions import db
from shop.formatting import money
from shop.payouts.listing import ArtistPayouts, artist_payouts, recent_payouts, runs
from shop.payouts.manual import METHOD_MAX, REFERENCE_MAX, ManualPayoutForm, ManualPayoutRefused, record_manual_payout


@bp.app_template_global("artist_payouts_panel")
def artist_payouts_panel(artist: Artist) -> ArtistPayouts:
    """What ``admin/_artist_payouts.html`` shows for ``artist`` (the artist page passes only the artist)."""
    return artist_payouts(artist)


@bp.app_template_global("payout_form_once")
def payout_form_once() -> str:
    """A one-time value for a manual payout form: sent twice, it records one payout."""
    return secrets.token_urlsafe(24)


@bp.app_template_global("payout_currencies")
def payout_currencies() -> list[str]:
    return sorted(CURRENCIES)


@bp.get("/payouts")
def payouts() -> str:
    run_key = request.args.get("run", "")[:64] or None
    return render_template("admin/payouts.html", runs=runs(), payouts=recent_payouts(run_key=run_key),
                           run_key=run_key)


@bp.get("/payouts/artists/<int:artist_id>")
def artist_payouts_page(artist_id: int) -> str:
    artist = db.get_or_404(Artist, artist_id, description="No such artist.")
    return render_template("admin/artist_payouts.html", artist=artist)


def _back(artist: Artist) -> BaseResponse:
    target = safe_next(request.form.get("return_to")) or url_for("admin.artist_payouts_page", artist_id=artist.id)
    return redirect(f"{target}#payouts", 303)


@bp.post("/artists/<int:artist_id>/payouts")
def artist_payout_create(artist_id: int) -> BaseResponse:
    """Record a payout the operator made by hand (amount, currency, method, reference)."""
    artist = db.get_or_404(Artist, artist_id, description="No such artist.")
    form = ManualPayoutForm(
        amount=request.form.get("amount", "")[:40],
        currency=request.form.get("currency", "")[:10],
        method=request.form.get("method", "")[:METHOD_MAX + 1],
        reference=request.form.get("reference", "")[:REFERENCE_MAX + 1],
        once=request.form.get("once", "")[:80],
        over_balance=request.form.get("over_balance") == "yes",
    )
    try:
        payout = record_manual_payout(artist, form, operator().id)
    except ManualPayoutRefused as exc:
        db.session.rollback()
        flash(f"No payout recorded: {exc}")
        return _back(artist)
    audit.record(operator(), "payout.manual", f"artist:{artist.id}",
                 {"payout_id": payout.id, "amount_cents": payout.amount_cents, "currency": payout.currency,
                  "method": payout.note, "reference": payout.reference, "over_balance": form.over_balance},
                 request.remote_addr)
    db.session.commit()
    flash(f"{money(payout.amount_cents, payout.currency)} to {artist.name} recorded as paid ({payout.note}).")
    return _back(artist)
