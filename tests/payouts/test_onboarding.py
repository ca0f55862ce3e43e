"""An artist onboards from their statement link through the emulator's Account Link page;
``account.updated`` on the Connect endpoint enables their payouts."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from shop.artists import PayoutMethod, StatementLink
from shop.extensions import db
from shop.models import utcnow
from shop.payments.models import PaymentEvent
from tests.payments.conftest import CONNECT_WEBHOOK_SECRET
from tests.payments.test_stripe_webhooks import signed
from tests.payouts.conftest import (
    browser,
    fresh_artist,
    make_artist,
    path_of,
)

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def onboarding_link(client, emulated, token: str) -> str:
    response = client.post(f"/payouts/onboard/{token}")
    assert response.status_code == 303, response.get_data(as_text=True)
    url = response.headers["Location"]
    assert url.startswith(f"{emulated.base_url}/setup/e/acct_"), url
    return url


def test_an_artist_onboards_through_the_account_link_page(app, client, emulated):
    artist, token = make_artist()
    url = onboarding_link(client, emulated, token)
    account_id = fresh_artist(artist.id).stripe_account_id
    assert account_id and f"/setup/e/{account_id}/" in url
    assert not fresh_artist(artist.id).payouts_enabled

    web = browser()
    page = web.get(url, timeout=10)
    assert page.status_code == 200 and 'value="complete"' in page.text
    done = web.post(url, data={"action": "complete"}, allow_redirects=False, timeout=10)
    assert done.status_code == 303
    assert done.headers["Location"] == f"{app.config['BASE_URL']}/payouts/return/{token}"
    emulated.wait()

    artist = fresh_artist(artist.id)
    assert artist.payouts_enabled and artist.payout_method == PayoutMethod.STRIPE.value
    back = client.get(path_of(done.headers["Location"]))
    assert back.status_code == 303 and back.headers["Location"] == f"/statements/{token}"
    # The event came through the Connect endpoint and was recorded once.
    delivered = [d for d in emulated.deliveries() if d.get("type") == "account.updated"]
    assert delivered and all("/payments/stripe/connect-webhook" in d["url"] for d in delivered)
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(PaymentEvent.id))
                             .where(PaymentEvent.type == "account.updated")) == 1


def test_a_double_click_makes_one_account(app, client, emulated):
    artist, token = make_artist()
    first = onboarding_link(client, emulated, token)
    second = onboarding_link(client, emulated, token)
    assert first != second  # a fresh single-use link each time
    account_id = fresh_artist(artist.id).stripe_account_id
    accounts = emulated.client.v1.accounts.list(params={"limit": 100}).data
    assert [a.id for a in accounts] == [account_id]


def test_save_for_later_and_leave(app, client, emulated):
    artist, token = make_artist()
    url = onboarding_link(client, emulated, token)
    later = browser().post(url, data={"action": "later"}, allow_redirects=False, timeout=10)
    assert later.headers["Location"].endswith(f"/payouts/return/{token}")
    back = client.get(path_of(later.headers["Location"]))
    assert back.status_code == 303 and back.headers["Location"] == f"/statements/{token}"
    assert not fresh_artist(artist.id).payouts_enabled
    assert fresh_artist(artist.id).payout_method == PayoutMethod.MANUAL.value

    # "Leave" (or an expired or used link) goes to refresh_url: a new link for the same account.
    url = onboarding_link(client, emulated, token)
    left = browser().post(url, data={"action": "leave"}, allow_redirects=False, timeout=10)
    assert left.headers["Location"].endswith(f"/payouts/refresh/{token}")
    again = client.get(path_of(left.headers["Location"]))
    assert again.status_code == 303
    account_id = fresh_artist(artist.id).stripe_account_id
    assert again.headers["Location"].startswith(f"{emulated.base_url}/setup/e/{account_id}/")
    assert again.headers["Location"] != url
    done = browser().post(again.headers["Location"], data={"action": "complete"}, allow_redirects=False, timeout=10)
    assert done.status_code == 303
    emulated.wait()
    assert fresh_artist(artist.id).payouts_enabled


def test_the_return_page_reads_the_account_without_the_webhook(app, client, emulated):
    """No ``account.updated`` reached the store (the Connect endpoint removed): coming back
    still finds the account ready, since the return page asks Stripe."""
    for endpoint in emulated.client.v1.webhook_endpoints.list().data:
        emulated.client.v1.webhook_endpoints.delete(endpoint.id)
    artist, token = make_artist()
    url = onboarding_link(client, emulated, token)
    done = browser().post(url, data={"action": "complete"}, allow_redirects=False, timeout=10)
    assert not fresh_artist(artist.id).payouts_enabled
    client.get(path_of(done.headers["Location"]))
    assert fresh_artist(artist.id).payouts_enabled


def test_restricted_then_onboarded_again(app, client, emulated):
    artist, token = make_artist()
    url = onboarding_link(client, emulated, token)
    browser().post(url, data={"action": "complete"}, allow_redirects=False, timeout=10)
    emulated.wait()
    account_id = fresh_artist(artist.id).stripe_account_id
    emulated.control(f"accounts/{account_id}/restrict")
    emulated.wait()
    artist = fresh_artist(artist.id)
    assert not artist.payouts_enabled
    assert artist.payout_method == PayoutMethod.STRIPE.value  # still a Stripe artist, asked to finish
    emulated.control(f"accounts/{account_id}/onboard")
    emulated.wait()
    assert fresh_artist(artist.id).payouts_enabled


def test_unknown_accounts_are_ignored_and_replays_change_nothing(app, client, emulated, store_server, caplog):
    stranger = emulated.client.v1.accounts.create(params={"type": "express"})
    emulated.control(f"accounts/{stranger.id}/onboard")
    emulated.wait()
    assert "belongs to no artist" in caplog.text
    [event] = emulated.client.v1.events.list(params={"type": "account.updated"},
                                             options={"stripe_account": stranger.id}).data
    db.session.expire_all()
    assert db.session.scalar(db.select(PaymentEvent).where(PaymentEvent.event_id == event.id)).processed_at

    # A replay of an artist's event (after the account changed again) changes nothing: the
    # store writes what the account is now, not what the event said.
    artist, token = make_artist()
    url = onboarding_link(client, emulated, token)
    browser().post(url, data={"action": "complete"}, allow_redirects=False, timeout=10)
    emulated.wait()
    account_id = fresh_artist(artist.id).stripe_account_id
    [enabling] = emulated.client.v1.events.list(params={"type": "account.updated"},
                                                options={"stripe_account": account_id}).data
    emulated.control(f"accounts/{account_id}/restrict")
    emulated.wait()
    assert not fresh_artist(artist.id).payouts_enabled
    body = json.dumps({**enabling.to_dict(), "id": f"evt_replayed_{secrets.token_hex(4)}"}).encode()
    web = browser()
    answer = web.post(f"{store_server.base_url}/payments/stripe/connect-webhook", data=body, timeout=10,
                      headers={"Stripe-Signature": signed(body, secret=CONNECT_WEBHOOK_SECRET),
                               "Content-Type": "application/json"})
    assert answer.status_code == 200
    assert not fresh_artist(artist.id).payouts_enabled


def test_connect_events_need_the_connect_endpoints_secret(app, emulated, store_server):
    artist, _token = make_artist()
    body = json.dumps({"id": "evt_forged", "object": "event", "type": "account.updated", "account": "acct_x",
                       "livemode": False, "created": int(time.time()),
                       "data": {"object": {"id": "acct_x", "object": "account"}}}).encode()
    web = browser()
    url = f"{store_server.base_url}/payments/stripe/connect-webhook"
    forged = web.post(url, data=body, headers={"Stripe-Signature": signed(body, secret="whsec_forged")}, timeout=10)
    assert forged.status_code == 400
    # The platform endpoint's secret does not open the Connect endpoint.
    wrong = web.post(url, data=body, headers={"Stripe-Signature": signed(body)}, timeout=10)
    assert wrong.status_code == 400
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(PaymentEvent.id))) == 0


def test_a_test_mode_event_at_a_live_store_is_ignored(app, emulated, store_server, caplog):
    artist, _token = make_artist()
    artist.stripe_account_id = "acct_livecheck"
    db.session.commit()
    body = json.dumps({"id": "evt_live", "object": "event", "type": "account.updated", "account": "acct_livecheck",
                       "livemode": True, "created": int(time.time()),
                       "data": {"object": {"id": "acct_livecheck", "object": "account"}}}).encode()
    answer = browser().post(f"{store_server.base_url}/payments/stripe/connect-webhook", data=body, timeout=10,
                            headers={"Stripe-Signature": signed(body, secret=CONNECT_WEBHOOK_SECRET)})
    assert answer.status_code == 200  # recorded, and not acted on: Stripe is not asked
    assert "is a live event and the store is not" in caplog.text
    assert not fresh_artist(artist.id).payouts_enabled


@pytest.mark.parametrize("kind", ["unknown", "revoked", "malformed"])
def test_a_dead_statement_link_opens_nothing(app, client, emulated, kind):
    artist, token = make_artist()
    if kind == "unknown":
        token = secrets.token_urlsafe(32)
    elif kind == "revoked":
        link = db.session.scalar(db.select(StatementLink).where(StatementLink.artist_id == artist.id))
        link.revoked_at = utcnow()
        db.session.commit()
    else:
        token = "not-a-token"
    for response in (client.post(f"/payouts/onboard/{token}"), client.get(f"/payouts/return/{token}"),
                     client.get(f"/payouts/refresh/{token}")):
        assert response.status_code == 404
    assert fresh_artist(artist.id).stripe_account_id is None
    assert emulated.client.v1.accounts.list().data == []


def test_onboarding_is_a_post_with_csrf(app, client, emulated):
    artist, token = make_artist()
    assert client.get(f"/payouts/onboard/{token}").status_code == 405
    # Without an account, the refresh URL (a GET) makes none: back to the statement page.
    refreshed = client.get(f"/payouts/refresh/{token}")
    assert refreshed.status_code == 303 and refreshed.headers["Location"] == f"/statements/{token}"
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = client.post(f"/payouts/onboard/{token}")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert refused.status_code == 400
    assert fresh_artist(artist.id).stripe_account_id is None


def test_the_statement_pages_get_paid_panel_in_each_state(app, emulated):
    from flask import render_template_string

    artist, token = make_artist()

    def state() -> str:
        with app.test_request_context(f"/statements/{token}"):
            page = render_template_string('{% include "payouts/_get_paid.html" %}', artist=fresh_artist(artist.id),
                                          token=token)
        return page.split('data-state="', 1)[1].split('"', 1)[0] + (" button" if "<button" in page else "")

    assert state() == "none button"
    artist.stripe_account_id = emulated.client.v1.accounts.create(params={"type": "express"}).id
    db.session.commit()
    assert state() == "unfinished button"
    artist = fresh_artist(artist.id)
    artist.payouts_enabled, artist.payout_method = True, PayoutMethod.STRIPE.value
    db.session.commit()
    assert state() == "ready"
    app.config["STRIPE_SECRET_KEY"] = None
    artist = fresh_artist(artist.id)
    artist.payouts_enabled, artist.payout_method = False, PayoutMethod.MANUAL.value
    db.session.commit()
    assert state() == "manual"
    # Without Stripe, the onboarding URLs open nothing and the return page still goes home.
    client = app.test_client()
    assert client.post(f"/payouts/onboard/{token}").status_code == 404
    assert client.get(f"/payouts/return/{token}").headers["Location"] == f"/statements/{token}"
