"""An artist gets paid, in a real browser: their statement link, "Get paid with Stripe", the
Stripe emulator's onboarding page, back to the store, and the payout shown after
``flask payouts run``; at phone and desktop widths, a screenshot per step under
``artifacts/browser/artist-payout/<viewport>/``.

The artist's statement page (``GET /statements/<token>``) belongs to another package; until it
is in this tree, the test serves a stand-in at that path that shows what the real page shows
of payouts: ``payouts/_get_paid.html`` (the button, the account's state, the payouts). Once
the real page is there, the stand-in is not added and the real page is driven instead: the test
reads only what both show (``#owed`` by currency, the ``#get-paid`` section, the amount paid).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask, abort, render_template_string

import stripe_emulator
from emulator_common import ServerThread
from shop import create_app
from shop.artists import Artist, PayoutMethod, StatementLink, name_key
from shop.extensions import db
from shop.formatting import money
from shop.ledger.models import EntryKind, LedgerEntry, LedgerPosting, Party, Payout, PostingKind
from shop.ledger.statements import balances
from shop.models import utcnow
from shop.order_links import hash_token
from shop.payments.stripe_api import stripe_client
from shop.payouts.onboarding import artist_for_statement
from tests.browser.conftest import ARTIFACTS, BrowserProblems, Steps
from tests.services import free_port

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

KEY = "sk_test_indiepacks_payouts_browser"
WEBHOOK_SECRET = "whsec_indiepacks_payouts_browser"
CONNECT_SECRET = "whsec_indiepacks_payouts_browser_connect"

STAND_IN = """{% extends "base.html" %}
{% block title %}Statement for {{ artist.name }}{% endblock %}
{% block content %}
<h1>{{ artist.name }}</h1>
<section id="owed"><h2>Owed to you now</h2><ul class="owed">
  {% for currency, cents in owed %}<li data-currency="{{ currency }}"><strong>{{ cents|money(currency) }}</strong></li>
  {% endfor %}</ul></section>
{% include "payouts/_get_paid.html" %}
{% endblock %}"""


def _stand_in_statement_page(token: str) -> str:
    artist = artist_for_statement(token)
    if artist is None:
        abort(404)
    owed = sorted((c, a) for (_, c), a in balances(artist.id).items())
    return render_template_string(STAND_IN, artist=artist, token=token, owed=owed)


def has_statement_page(app: Flask) -> bool:
    try:
        app.url_map.bind("localhost").match(f"/statements/{'a' * 43}", method="GET")
    except Exception:
        return False
    return True


@dataclass
class PayoutStore:
    app: Flask
    url: str
    stripe_url: str
    emulator: stripe_emulator.Emulator
    artist_id: int
    token: str


@pytest.fixture
def payout_store(tmp_path: Path) -> Iterator[PayoutStore]:
    with contextlib.ExitStack() as stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        stripe_app = stripe_emulator.create_app(
            api_keys=[KEY], webhooks=[(f"{url}/payments/stripe/webhook", WEBHOOK_SECRET)],
            connect_webhooks=[(f"{url}/payments/stripe/connect-webhook", CONNECT_SECRET)])
        emulator = stripe_app.extensions["stripe_emulator"]
        stack.callback(emulator.close)
        stripe_server = ServerThread(stripe_app).start()
        stack.callback(stripe_server.stop)
        database = tmp_path / "shop.sqlite3"
        app = create_app({
            "ENV": "testing", "SECRET_KEY": secrets.token_hex(32),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "MEDIA_ROOT": str(tmp_path / "media"),
            "OUTBOX_DIR": str(tmp_path / "outbox"), "MAIL_URL": None, "BASE_URL": url, "SERVER_NAME": None,
            "WTF_CSRF_ENABLED": True, "PAYMENT_PROVIDER": "stripe", "STRIPE_SECRET_KEY": KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_SECRET,
            "STRIPE_API_URL": stripe_server.base_url,
        })
        if not has_statement_page(app):
            app.add_url_rule("/statements/<token>", "statement_stand_in", _stand_in_statement_page)
        with app.app_context():
            db.create_all()
            # The operator chose Stripe for this artist; the artist has not onboarded yet.
            artist = Artist(name="Ada Sound", name_key=name_key("Ada Sound"), payout_method=PayoutMethod.STRIPE.value)
            db.session.add(artist)
            db.session.flush()
            token = secrets.token_urlsafe(32)
            db.session.add(StatementLink(artist_id=artist.id, token_hash=hash_token(token)))
            now = utcnow()
            sale = LedgerPosting(key="sale:browser-1", kind=PostingKind.SALE.value, currency="USD",
                                 amount_cents=1500, at=now)
            sale.entries.append(LedgerEntry(party=Party.ARTIST.value, artist_id=artist.id,
                                            kind=EntryKind.SHARE.value, currency="USD", amount_cents=1275, at=now))
            sale.entries.append(LedgerEntry(party=Party.STORE.value, kind=EntryKind.SHARE.value, currency="USD",
                                            amount_cents=225, at=now))
            db.session.add(sale)
            db.session.commit()
            artist_id = artist.id
            db.session.remove()
        # The platform's available balance, for the transfer.
        with app.app_context():
            stripe_client().v1.payment_intents.create(params={
                "amount": 50_000, "currency": "usd", "payment_method": "pm_card_bypassPending", "confirm": True})
        store_server = ServerThread(app, port=port).start()
        stack.callback(store_server.stop)
        stack.callback(_dispose, app)
        yield PayoutStore(app, url, stripe_server.base_url, emulator, artist_id, token)


def _dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def journey_steps(page, viewport: str, problems: BrowserProblems) -> Steps:
    folder = ARTIFACTS / "artist-payout" / viewport
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Steps(page, folder, problems)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_artist_onboards_and_sees_their_payout(viewport: str, page, problems: BrowserProblems,
                                                  journey_steps: Steps, payout_store: PayoutStore):
    store = payout_store
    problems.allow_pages_of(store.stripe_url)
    statement = f"{store.url}/statements/{store.token}"
    page.goto(statement)
    owed = page.locator('#owed [data-currency="USD"]')
    get_paid = page.locator("#get-paid")
    expect(owed).to_contain_text(money(1275, "USD"))
    expect(get_paid.get_by_role("button", name="Get paid with Stripe")).to_be_visible()
    journey_steps.snap("1-statement")

    get_paid.get_by_role("button", name="Get paid with Stripe").click()
    expect(page.get_by_role("heading", name="Get paid with Stripe")).to_be_visible()
    assert page.url.startswith(f"{store.stripe_url}/setup/e/acct_")
    journey_steps.snap("2-stripe-onboarding")

    page.get_by_role("button", name="Complete onboarding").click()
    page.wait_for_url(statement)
    expect(get_paid).to_contain_text(re.compile(r"ready|enabled", re.IGNORECASE))
    expect(get_paid.get_by_role("button")).to_have_count(0)
    journey_steps.snap("3-back-ready")

    with store.app.app_context():
        result = store.app.test_cli_runner().invoke(args=["payouts", "run"])
        assert result.exit_code == 0, result.output
        payout = db.session.scalar(db.select(Payout).where(Payout.artist_id == store.artist_id))
        assert payout is not None and payout.amount_cents == 1275 and payout.reference
        artist = db.session.get(Artist, store.artist_id)
        assert artist is not None and artist.stripe_account_id
        transfers = stripe_client().v1.transfers.list(params={"destination": artist.stripe_account_id}).data
        assert [(t.id, t.amount) for t in transfers] == [(payout.reference, 1275)]
        db.session.remove()

    page.reload()
    expect(owed).to_contain_text(money(0, "USD"))
    expect(page.get_by_text(money(1275, "USD")).first).to_be_visible()   # the payout, or the month's figures
    journey_steps.snap("4-paid")
