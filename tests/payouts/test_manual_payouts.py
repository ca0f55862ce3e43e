"""Payouts made by hand, recorded from the console: the artist page's panel, hostile input,
CSRF, the audit row; and ``/admin/payouts`` listing runs and transfers."""

from __future__ import annotations

import html
import re

import pytest

from shop.artists import PayoutMethod
from shop.extensions import db
from shop.ledger.models import LedgerPosting, Payout, PayoutStatus
from shop.models import utcnow
from tests.admin.conftest import admin_client, audit_rows, csrf_token, fresh_login_per_request, operator
from tests.payouts.conftest import balance, earn, make_artist, payouts_of

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

__all__ = ["admin_client", "fresh_login_per_request", "operator"]


@pytest.fixture
def app_overrides() -> dict:
    return {}  # no Stripe needed: nothing here talks to it


def panel_form(admin_client, artist_id: int) -> dict[str, str]:
    page = admin_client.get(f"/admin/payouts/artists/{artist_id}").get_data(as_text=True)
    once = re.search(r'name="once" value="([^"]+)"', page).group(1)
    return {"once": once, "return_to": f"/admin/payouts/artists/{artist_id}"}


def pay_by_hand(admin_client, artist_id: int, **fields: str):
    form = {**panel_form(admin_client, artist_id), "amount": "12.50", "currency": "USD",
            "method": "Bank transfer", "reference": "SEPA 2026-11-30", **fields}
    return admin_client.post(f"/admin/artists/{artist_id}/payouts", data=form)


def flashes(admin_client, response) -> str:
    return html.unescape(admin_client.get(response.headers["Location"].split("#")[0]).get_data(as_text=True))


def test_a_manual_payout_is_recorded_posted_and_audited(app, admin_client):
    artist, _ = make_artist()
    earn(artist.id, 2000)
    page = admin_client.get(f"/admin/payouts/artists/{artist.id}").get_data(as_text=True)
    assert "Owed now:" in page and "$20.00" in page and 'id="manual-payout"' in page
    assert 'value="20.00"' in page   # the amount field starts at what is owed

    response = pay_by_hand(admin_client, artist.id)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/payouts/artists/{artist.id}#payouts"
    assert "$12.50 to Ada Sound recorded as paid (Bank transfer)." in flashes(admin_client, response)
    [payout] = payouts_of(artist.id)
    assert (payout.method, payout.status, payout.amount_cents, payout.currency, payout.reference, payout.note) == (
        PayoutMethod.MANUAL.value, PayoutStatus.SENT.value, 1250, "USD", "SEPA 2026-11-30", "Bank transfer")
    assert payout.sent_at is not None and payout.operator_id is not None
    posting = db.session.scalar(db.select(LedgerPosting).where(LedgerPosting.key == f"payout:{payout.id}"))
    assert posting.amount_cents == -1250 and [e.amount_cents for e in posting.entries] == [-1250]
    assert balance(artist.id) == 750
    [row] = [r for r in audit_rows() if r.action == "payout.manual"]
    assert row.target == f"artist:{artist.id}" and row.details["amount_cents"] == 1250
    listed = admin_client.get("/admin/payouts").get_data(as_text=True)
    assert f'id="payout-{payout.id}"' in listed and "by hand: Bank transfer" in listed


def test_a_form_sent_twice_records_one_payout(app, admin_client):
    artist, _ = make_artist()
    earn(artist.id, 5000)
    form = {**panel_form(admin_client, artist.id), "amount": "10.00", "currency": "USD", "method": "PayPal"}
    first = admin_client.post(f"/admin/artists/{artist.id}/payouts", data=form)
    second = admin_client.post(f"/admin/artists/{artist.id}/payouts", data=form)
    assert first.status_code == second.status_code == 303
    assert "already recorded" in flashes(admin_client, second)
    assert len(payouts_of(artist.id)) == 1 and balance(artist.id) == 4000


@pytest.mark.parametrize(("fields", "message"), [
    ({"amount": "-5.00"}, "must be more than zero"),
    ({"amount": "0"}, "must be more than zero"),
    ({"amount": "0.00"}, "must be more than zero"),
    ({"amount": "1e3"}, "plain number of USD, such as 12.50"),
    ({"amount": "12.505"}, "plain number of USD"),
    ({"amount": ""}, "plain number of USD"),
    ({"amount": "999999999"}, "largest amount the store records"),
    ({"amount": "1.5", "currency": "JPY"}, "plain number of JPY, such as 500"),
    ({"currency": "XXX"}, "'XXX' is not a currency the store knows"),
    ({"currency": "<script>"}, "not a currency the store knows"),
    ({"method": "   "}, "Say how the artist was paid"),
    ({"method": "x" * 101}, "may be 100 characters long"),
    ({"method": "Bank\x1b[31m"}, "control or direction character"),
    ({"reference": "abc\u202edef"}, "control or direction character"),
    ({"once": "short"}, "out of date"),
    ({"amount": "30.00"}, "is more than the $20.00 Ada Sound is owed in USD"),
])
def test_hostile_input_is_refused_with_a_message(app, admin_client, fields, message):
    artist, _ = make_artist()
    earn(artist.id, 2000)
    response = pay_by_hand(admin_client, artist.id, **fields)
    assert response.status_code == 303
    page = flashes(admin_client, response)
    assert "No payout recorded:" in page and message in page, page[page.find("flash"):][:400]
    assert payouts_of(artist.id) == [] and balance(artist.id) == 2000
    assert [r.action for r in audit_rows()][-1] == "artist_payout_create.attempt"


def test_more_than_is_owed_only_when_ticked(app, admin_client):
    artist, _ = make_artist()
    earn(artist.id, 2000)
    response = pay_by_hand(admin_client, artist.id, amount="30.00", over_balance="yes")
    assert "recorded as paid" in flashes(admin_client, response)
    assert balance(artist.id) == -1000
    page = admin_client.get(f"/admin/payouts/artists/{artist.id}").get_data(as_text=True)
    assert "-$10.00" in page and "paid ahead" in page
    # Nothing owed at all: the same.
    other, _ = make_artist("Nobody Owed")
    refused = pay_by_hand(admin_client, other.id, amount="1.00")
    assert "is more than the $0.00" in flashes(admin_client, refused)


def test_the_form_needs_csrf_and_a_login(app, admin_client):
    artist, _ = make_artist()
    earn(artist.id, 2000)
    anonymous = app.test_client().post(f"/admin/artists/{artist.id}/payouts", data={"amount": "1.00"})
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]
    token = csrf_token(admin_client, f"/admin/payouts/artists/{artist.id}")
    form = {**panel_form(admin_client, artist.id), "amount": "1.00", "currency": "USD", "method": "Cash"}
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = admin_client.post(f"/admin/artists/{artist.id}/payouts", data=form)
        accepted = admin_client.post(f"/admin/artists/{artist.id}/payouts", data={**form, "csrf_token": token})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert refused.status_code == 400
    assert accepted.status_code == 303
    assert len(payouts_of(artist.id)) == 1
    assert admin_client.post("/admin/artists/999999/payouts", data=form).status_code == 404


def test_the_return_address_stays_in_the_console(app, admin_client):
    artist, _ = make_artist()
    earn(artist.id, 2000)
    for hostile in ("https://evil.example/admin/payouts", "//evil.example/x", "/orders/abc"):
        response = pay_by_hand(admin_client, artist.id, return_to=hostile)
        assert response.headers["Location"] == f"/admin/payouts/artists/{artist.id}#payouts"
    response = pay_by_hand(admin_client, artist.id, amount="1.00", return_to="/admin/payouts")
    assert response.headers["Location"] == "/admin/payouts#payouts"


def test_the_payouts_page_lists_runs_and_transfers(app, admin_client):
    artist, _ = make_artist()
    other, _ = make_artist("Bo Rivers")
    now = utcnow()
    db.session.add_all([
        Payout(artist_id=artist.id, currency="USD", amount_cents=2000, method="stripe", status="sent",
               run_key="20261201T000000Z-abc123", idempotency_key="payout-a", reference="tr_sent123", sent_at=now),
        Payout(artist_id=other.id, currency="USD", amount_cents=700, method="stripe", status="failed",
               run_key="20261201T000000Z-abc123", idempotency_key="payout-b",
               error="balance_insufficient: You have insufficient available funds"),
    ])
    db.session.commit()
    page = admin_client.get("/admin/payouts").get_data(as_text=True)
    assert 'id="run-20261201T000000Z-abc123"' in page
    assert "tr_sent123" in page and "balance_insufficient: You have insufficient available funds" in page
    assert "$20.00" in page
    only_run = admin_client.get("/admin/payouts?run=20261201T000000Z-abc123").get_data(as_text=True)
    assert "tr_sent123" in only_run
    assert "tr_sent123" not in admin_client.get("/admin/payouts?run=nope").get_data(as_text=True)
    assert admin_client.get("/admin/payouts/artists/424242").status_code == 404
