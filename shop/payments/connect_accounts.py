"""Artists' Stripe Express accounts as Stripe reports them: can this artist receive transfers?

Stripe says so in ``account.updated`` events (sent to ``connect=true`` webhook endpoints, the
event's ``account`` naming the connected account) and in the account itself, which the artist's
return from onboarding re-reads. Both end in :func:`sync_account`, which asks Stripe for the
account as it is *now* and writes what it says on the artist's row, so an event delivered twice,
late or out of order changes nothing that a fresh read would not.

"Payouts enabled" for the store means the account's ``transfers`` capability is ``active``: that
is what a transfer needs (Stripe refuses it otherwise). An account without that capability
listed falls back to Stripe's own ``payouts_enabled``.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from flask import current_app
from sqlalchemy import select, update

from shop.artists import Artist, PayoutMethod
from shop.extensions import db
from shop.payments.stripe_api import stripe_client

log = logging.getLogger(__name__)

ACCOUNT_EVENTS = frozenset({"account.updated"})


def can_receive_transfers(account: stripe.Account) -> bool:
    capabilities = getattr(account, "capabilities", None)
    transfers = getattr(capabilities, "transfers", None) if capabilities is not None else None
    if transfers is not None:
        return bool(transfers == "active")
    return bool(getattr(account, "payouts_enabled", False))


def artist_with_account(account_id: str) -> Artist | None:
    return db.session.scalar(select(Artist).where(Artist.stripe_account_id == account_id))


def sync_account(account_id: str, account: stripe.Account | None = None) -> Artist | None:
    """Write what Stripe says about ``account_id`` now on its artist (committed); ``None`` (and
    nothing asked of Stripe) when no artist has that account.

    An account that becomes able to receive transfers makes the artist a Stripe artist
    (``payout_method`` ``stripe``); later events leave the method alone (an operator may have
    chosen manual payouts since). One that cannot (onboarding unfinished, or Stripe restricted
    it) only turns ``payouts_enabled`` off, so the artist is asked to finish onboarding.

    :raises stripe.StripeError: when Stripe cannot be asked.
    """
    artist = artist_with_account(account_id)
    if artist is None:
        log.warning("Stripe account %s belongs to no artist; ignored", account_id)
        return None
    if account is None:
        account = stripe_client().v1.accounts.retrieve(account_id)
    enabled = can_receive_transfers(account)
    changed = artist.payouts_enabled != enabled
    if enabled:
        # The moment payouts become possible makes the artist a Stripe artist; a later event
        # leaves an operator's switch back to manual payouts alone.
        db.session.execute(update(Artist).where(Artist.id == artist.id, Artist.payouts_enabled.is_(False))
                           .values(payout_method=PayoutMethod.STRIPE.value)
                           .execution_options(synchronize_session=False))
    db.session.execute(update(Artist).where(Artist.id == artist.id).values(payouts_enabled=enabled)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(artist)
    if changed:
        log.info("artist %s (Stripe account %s): payouts %s", artist.id, account_id,
                 "enabled" if enabled else "not enabled")
    return artist


def _store_is_live() -> bool:
    key = str(current_app.config.get("STRIPE_SECRET_KEY") or "")
    return key.startswith(("sk_live_", "rk_live_"))


def handle_account_event(event: dict[str, Any]) -> Artist | None:
    """An ``account.updated`` event: the connected account it names (its ``account``, else the
    account object's id) re-read and written on its artist. An event of the other mode (a test
    event at a live store: Connect endpoints get both) is ignored.

    :raises stripe.StripeError: when Stripe cannot be asked.
    """
    if bool(event.get("livemode")) != _store_is_live():
        log.warning("event %s is a %s event and the store is not; ignored", event.get("id"),
                    "live" if event.get("livemode") else "test-mode")
        return None
    obj = (event.get("data") or {}).get("object") or {}
    account_id = event.get("account")
    if not isinstance(account_id, str) and isinstance(obj, dict) and obj.get("object") == "account":
        account_id = obj.get("id")
    if not isinstance(account_id, str) or not account_id.startswith("acct_"):
        log.warning("event %s names no connected account; ignored", event.get("id"))
        return None
    return sync_account(account_id)
