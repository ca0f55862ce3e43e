"""An artist's Stripe Express account and the Account Links that send them to Stripe's onboarding.

The artist reaches this through their statement link (they have no login): the token is looked
up like an order link (only its SHA-256 is stored; a revoked, unknown or malformed one opens
nothing). The account is created once per artist: with an idempotency key that is the artist's
own, and under a lock on the artist's row, so a double click (or two tabs) makes one account.
Account Links are single-use and short-lived, so a new one is made for every click and for every
return to ``refresh_url``; they are never mailed.
"""

from __future__ import annotations

import logging

import stripe
from sqlalchemy import select, update
from stripe.params import AccountCreateParams

from shop.artists import Artist, artist_for_statement_token
from shop.extensions import db
from shop.payments.connect_accounts import sync_account
from shop.payments.stripe_api import StripeNotConfigured, stripe_client
from shop.payouts.records import lock_artist
from shop.urls import absolute_url

log = logging.getLogger(__name__)


#: The artist whose live statement link a token is (shared with the statement page).
artist_for_statement = artist_for_statement_token


def account_idempotency_key(artist: Artist) -> str:
    """One key per artist row (its id and when it was made, so a rebuilt database's artist 1 is
    not taken for the old one while Stripe still remembers the key)."""
    return f"express-account-artist-{artist.id}-{int(artist.created_at.timestamp())}"


def express_account(artist: Artist) -> str:
    """The artist's Express account id, created (and committed) on first use.

    :raises stripe.StripeError: when Stripe cannot make it.
    """
    if artist.stripe_account_id:
        return artist.stripe_account_id
    lock_artist(artist.id)
    made = db.session.scalar(select(Artist.stripe_account_id).where(Artist.id == artist.id))
    if made:  # by the other click, while this one waited
        db.session.commit()
        db.session.refresh(artist)
        return made
    params: AccountCreateParams = {
        "controller": {"stripe_dashboard": {"type": "express"}, "fees": {"payer": "application"},
                       "losses": {"payments": "application"}},
        "capabilities": {"transfers": {"requested": True}, "card_payments": {"requested": True}},
        "metadata": {"artist_id": str(artist.id)},
    }
    try:
        account = stripe_client().v1.accounts.create(params=params,
                                                     options={"idempotency_key": account_idempotency_key(artist)})
    except Exception:
        db.session.rollback()
        raise
    db.session.execute(update(Artist).where(Artist.id == artist.id, Artist.stripe_account_id.is_(None))
                       .values(stripe_account_id=account.id).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(artist)
    log.info("artist %s: Stripe Express account %s", artist.id, artist.stripe_account_id)
    assert artist.stripe_account_id is not None
    return artist.stripe_account_id


def onboarding_url(artist: Artist, token: str) -> str:
    """A fresh Account Link to Stripe's onboarding for the artist's account (made if need be),
    coming back to ``/payouts/return/<token>`` (done or saved for later) or
    ``/payouts/refresh/<token>`` (the link expired or was used: a new one is made there).

    :raises stripe.StripeError: when Stripe cannot be asked.
    """
    account_id = express_account(artist)
    link = stripe_client().v1.account_links.create(params={
        "account": account_id,
        "type": "account_onboarding",
        "return_url": absolute_url("payouts.onboarding_return", token=token),
        "refresh_url": absolute_url("payouts.onboarding_refresh", token=token),
    })
    return link.url


def after_onboarding(artist: Artist) -> Artist:
    """The artist as Stripe says now, after they came back from onboarding ("done" or "save for
    later" alike: only the account tells which). Stripe being unreachable changes nothing; the
    ``account.updated`` event will tell.
    """
    if not artist.stripe_account_id:
        return artist
    try:
        return sync_account(artist.stripe_account_id) or artist
    except (stripe.StripeError, StripeNotConfigured) as exc:
        db.session.rollback()
        log.warning("artist %s back from onboarding; account %s not re-read: %s", artist.id,
                    artist.stripe_account_id, type(exc).__name__)
        return artist
