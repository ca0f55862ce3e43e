"""Paying artists through the Stripe emulator, over real HTTP, with the official SDK.

The store is served on a loopback port with both of its webhook endpoints registered at the
emulator: the platform's (``/payments/stripe/webhook``) and the ``connect=true`` one
(``/payments/stripe/connect-webhook``, its own secret), which is how ``account.updated`` for
an artist's Express account reaches the store. Artists, statement links and ledger rows are
written directly (the sale postings are another package's work); the platform's Stripe balance
is funded with the bypass-pending test card, whose funds are available at once.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask

from shop.artists import Artist, PayoutMethod, StatementLink, name_key
from shop.extensions import db
from shop.ledger.models import EntryKind, LedgerEntry, LedgerPosting, Party, Payout, PostingKind
from shop.ledger.statements import balances
from shop.models import utcnow
from shop.order_links import hash_token
from tests.payments.conftest import (
    Emulated,
    app_overrides,
    emulated,
    stripe_overrides,
    stripe_server,
)

__all__ = ["app_overrides", "emulated", "stripe_overrides", "stripe_server"]


def make_artist(name: str = "Ada Sound") -> tuple[Artist, str]:
    """An artist and the raw token of their live statement link (committed)."""
    artist = Artist(name=name, name_key=name_key(name))
    db.session.add(artist)
    db.session.flush()
    token = secrets.token_urlsafe(32)
    db.session.add(StatementLink(artist_id=artist.id, token_hash=hash_token(token)))
    db.session.commit()
    return artist, token


def earn(artist_id: int, amount: int, currency: str = "USD", key: str | None = None) -> None:
    """A sale posting (written directly, as the ledger package will): the artist's share and
    the store's, summing to what was paid."""
    now = utcnow()
    key = key or f"sale:test-{secrets.token_hex(6)}"
    store_share = 100
    posting = LedgerPosting(key=key, kind=PostingKind.SALE.value, currency=currency,
                            amount_cents=amount + store_share, at=now)
    posting.entries.append(LedgerEntry(party=Party.ARTIST.value, artist_id=artist_id, kind=EntryKind.SHARE.value,
                                       currency=currency, amount_cents=amount, at=now))
    posting.entries.append(LedgerEntry(party=Party.STORE.value, kind=EntryKind.SHARE.value, currency=currency,
                                       amount_cents=store_share, at=now))
    db.session.add(posting)
    db.session.commit()


def refund(artist_id: int, amount: int, currency: str = "USD") -> None:
    """A refund posting taking ``amount`` back from the artist (nothing from the store)."""
    now = utcnow()
    posting = LedgerPosting(key=f"refund:re_test_{secrets.token_hex(6)}", kind=PostingKind.REFUND.value,
                            currency=currency, amount_cents=-amount, at=now)
    posting.entries.append(LedgerEntry(party=Party.ARTIST.value, artist_id=artist_id, kind=EntryKind.REFUND.value,
                                       currency=currency, amount_cents=-amount, at=now))
    db.session.add(posting)
    db.session.commit()


def balance(artist_id: int, currency: str = "USD") -> int:
    db.session.expire_all()
    owed = balances(artist_id).get((artist_id, currency), 0)
    db.session.commit()
    return owed


def fresh_artist(artist_id: int) -> Artist:
    db.session.expire_all()
    artist = db.session.get(Artist, artist_id)
    assert artist is not None
    db.session.commit()
    return artist


def payouts_of(artist_id: int) -> list[Payout]:
    db.session.expire_all()
    found = list(db.session.scalars(db.select(Payout).where(Payout.artist_id == artist_id).order_by(Payout.id)))
    db.session.commit()
    return found


def fund_platform(emulated: Emulated, amount: int = 100_000, currency: str = "usd") -> None:
    """Money in the platform's available balance: a payment with the bypass-pending test card."""
    emulated.client.v1.payment_intents.create(params={
        "amount": amount, "currency": currency, "payment_method": "pm_card_bypassPending", "confirm": True})


def stripe_artist(emulated: Emulated, name: str = "Ada Sound") -> tuple[Artist, str]:
    """An artist whose Express account finished onboarding (through the control API), as the
    store knows it after ``account.updated`` reached its Connect endpoint."""
    artist, token = make_artist(name)
    account = emulated.client.v1.accounts.create(params={"type": "express",
                                                         "capabilities": {"transfers": {"requested": True}}})
    artist.stripe_account_id = account.id
    db.session.commit()
    emulated.control(f"accounts/{account.id}/onboard")
    emulated.wait()
    artist = fresh_artist(artist.id)
    assert artist.payouts_enabled and artist.payout_method == PayoutMethod.STRIPE.value
    return artist, token


def transfers_to(emulated: Emulated, account_id: str) -> list[Any]:
    return list(emulated.client.v1.transfers.list(params={"destination": account_id, "limit": 100}).data)


def browser() -> requests.Session:
    web = requests.Session()
    web.trust_env = False
    return web


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def app_client(app: Flask) -> Any:
    return app.test_client()
