"""The artist's side of Stripe Connect, reached from their statement page (no login: the
statement link's token is the key): "Get paid with Stripe", and Stripe's two ways back.

The statement page shows the button and the payouts with ``{% include "payouts/_get_paid.html" %}``
(given ``artist`` and ``token``), which reads them through the template globals below.
"""

from __future__ import annotations

import logging

import stripe
from flask import abort, current_app, redirect
from sqlalchemy import select
from werkzeug.wrappers import Response

from shop import ratelimit
from shop.artists import Artist
from shop.extensions import db
from shop.ledger.models import Payout, PayoutStatus
from shop.payments.stripe_api import StripeNotConfigured
from shop.payouts import bp
from shop.payouts.onboarding import after_onboarding, artist_for_statement, onboarding_url

log = logging.getLogger(__name__)

STRIPE_DOWN = "We could not reach Stripe just now. Please go back and try again in a minute."
# Each click makes an Account Link at Stripe; an artist needs a handful.
ONBOARDING_LINKS_PER_HOUR = 30


def _artist(token: str) -> Artist:
    artist = artist_for_statement(token)
    if artist is None:
        abort(404)
    return artist


def statement_page(token: str) -> str:
    """The artist's statement page (its blueprint is a sibling of this one, so the path is
    named here rather than built from its endpoint)."""
    return f"/statements/{token}"


def _to_onboarding(artist: Artist, token: str) -> Response:
    if not current_app.config.get("STRIPE_SECRET_KEY"):
        abort(404)
    allowed = ratelimit.allow(f"payouts-onboarding:artist:{artist.id}", ONBOARDING_LINKS_PER_HOUR)
    db.session.commit()
    if not allowed:
        abort(429, "Too many trips to Stripe in a short while. Please wait a little and try again.")
    try:
        url = onboarding_url(artist, token)
    except (stripe.StripeError, StripeNotConfigured) as exc:
        db.session.rollback()
        log.warning("artist %s: no onboarding link: %s", artist.id, type(exc).__name__)
        abort(503, STRIPE_DOWN)
    return redirect(url, 303)


@bp.post("/payouts/onboard/<token>")
def onboard(token: str) -> Response:
    """"Get paid with Stripe" (a CSRF-protected form on the statement page): the artist's
    Express account (made once) and a fresh onboarding link, then off to Stripe (303)."""
    return _to_onboarding(_artist(token), token)


@bp.get("/payouts/refresh/<token>")
def onboarding_refresh(token: str) -> Response:
    """Stripe's ``refresh_url``: the link expired or was already used; a new one. Only an artist
    who has an account gets one (this GET never makes an account)."""
    artist = _artist(token)
    if not artist.stripe_account_id:
        return redirect(statement_page(token), 303)
    return _to_onboarding(artist, token)


@bp.get("/payouts/return/<token>")
def onboarding_return(token: str) -> Response:
    """Stripe's ``return_url``: the account re-read (it says whether onboarding is done), then
    the statement page."""
    after_onboarding(_artist(token))
    return redirect(statement_page(token), 303)


@bp.app_template_global("artist_paid_out")
def artist_paid_out(artist: Artist) -> list[Payout]:
    """The payouts sent to ``artist``, newest first, for ``payouts/_get_paid.html``."""
    return list(db.session.scalars(select(Payout).where(Payout.artist_id == artist.id,
                                                        Payout.status == PayoutStatus.SENT.value)
                                   .order_by(Payout.id.desc())))


@bp.app_template_global("stripe_payouts_available")
def stripe_payouts_available() -> bool:
    """Whether the store pays through Stripe at all (a secret key is set)."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))
