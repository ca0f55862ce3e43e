"""``flask payouts run`` through the Stripe emulator: one transfer per artist owed enough,
safe to run twice or after a run killed between the transfer and its record."""

from __future__ import annotations

import threading

import pytest

from shop.artists import PayoutMethod
from shop.extensions import db
from shop.ledger.models import LedgerPosting, Payout, PayoutStatus
from shop.payouts import runs
from shop.payouts.runs import idempotency_key, new_run_key, transfer_params
from tests.payouts.conftest import (
    balance,
    earn,
    fresh_artist,
    fund_platform,
    make_artist,
    payouts_of,
    refund,
    stripe_artist,
    transfers_to,
)
from tests.services import free_port

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=["payouts", "run", *args])
    db.session.rollback()
    return result


def test_a_run_transfers_each_balance_once(app, emulated):
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated, "Ada Sound")
    bo, _ = stripe_artist(emulated, "Bo Rivers")
    manual, _ = make_artist("Cash Only")          # no Stripe account: the operator pays by hand
    earn(ada.id, 1234)
    earn(ada.id, 766)
    earn(bo.id, 1500)
    earn(manual.id, 5000)

    result = run(app)
    assert result.exit_code == 0, result.output
    assert "2 sent, 0 failed, 0 left pending" in result.output
    [to_ada] = transfers_to(emulated, ada.stripe_account_id)
    [to_bo] = transfers_to(emulated, bo.stripe_account_id)
    assert (to_ada.amount, to_ada.currency) == (2000, "usd")
    assert (to_bo.amount, to_bo.currency) == (1500, "usd")
    [payout] = payouts_of(ada.id)
    assert (payout.status, payout.reference, payout.amount_cents, payout.method) == (
        PayoutStatus.SENT.value, to_ada.id, 2000, PayoutMethod.STRIPE.value)
    assert payout.idempotency_key == idempotency_key(ada.id, "USD", payout.run_key)
    assert to_ada.metadata["payout_id"] == str(payout.id)
    posting = db.session.scalar(db.select(LedgerPosting).where(LedgerPosting.key == f"payout:{payout.id}"))
    assert [(e.party, e.artist_id, e.kind, e.amount_cents) for e in posting.entries] == [
        ("artist", ada.id, "payout", -2000)]
    assert balance(ada.id) == 0 and balance(bo.id) == 0 and balance(manual.id) == 5000
    assert payouts_of(manual.id) == []

    again = run(app)
    assert again.exit_code == 0, again.output
    assert "0 sent, 0 failed, 0 left pending" in again.output
    assert len(transfers_to(emulated, ada.stripe_account_id)) == 1
    assert len(transfers_to(emulated, bo.stripe_account_id)) == 1
    assert len(payouts_of(ada.id)) == 1


def test_a_run_killed_after_the_transfer_makes_no_second_one(app, emulated):
    """The run decided the payout (pending, committed) and Stripe made the transfer, then the
    process died before recording it: the next run finishes that payout with the same transfer."""
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 2500)
    run_key = new_run_key()
    payout = Payout(artist_id=ada.id, currency="USD", amount_cents=2500, method="stripe",
                    status=PayoutStatus.PENDING.value, run_key=run_key,
                    idempotency_key=idempotency_key(ada.id, "USD", run_key))
    db.session.add(payout)
    db.session.commit()
    made = emulated.client.v1.transfers.create(params=transfer_params(payout, ada.stripe_account_id),
                                               options={"idempotency_key": payout.idempotency_key})
    # ... killed here: nothing recorded.
    assert balance(ada.id) == 2500

    result = run(app)
    assert result.exit_code == 0, result.output
    assert "(from an earlier run)" in result.output
    assert [t.id for t in transfers_to(emulated, ada.stripe_account_id)] == [made.id]
    [payout] = payouts_of(ada.id)
    assert (payout.status, payout.reference) == (PayoutStatus.SENT.value, made.id)
    assert balance(ada.id) == 0
    assert "0 sent" in run(app).output and len(transfers_to(emulated, ada.stripe_account_id)) == 1


def test_the_same_key_gives_the_same_transfer(app, emulated):
    """Without the transfer_group look-up (Stripe may list slowly), the idempotency key alone
    makes Stripe answer a repeated call with the first transfer."""
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    run_key = new_run_key()
    payout = Payout(artist_id=ada.id, currency="USD", amount_cents=999, method="stripe",
                    status=PayoutStatus.PENDING.value, run_key=run_key,
                    idempotency_key=idempotency_key(ada.id, "USD", run_key))
    db.session.add(payout)
    db.session.commit()
    from shop.payouts.runs import send

    first = emulated.client.v1.transfers.create(params=transfer_params(payout, ada.stripe_account_id),
                                                options={"idempotency_key": payout.idempotency_key})
    outcome = send(payout)  # not "resumed": straight to the create call, same key
    assert (outcome.status, outcome.transfer_id) == (PayoutStatus.SENT.value, first.id)
    assert len(transfers_to(emulated, ada.stripe_account_id)) == 1


def test_a_run_killed_before_the_transfer_misses_nobody(app, emulated):
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 1800)
    run_key = new_run_key()
    db.session.add(Payout(artist_id=ada.id, currency="USD", amount_cents=1800, method="stripe",
                          status=PayoutStatus.PENDING.value, run_key=run_key,
                          idempotency_key=idempotency_key(ada.id, "USD", run_key)))
    db.session.commit()
    # New earnings meanwhile: the pending payout is finished first, then the rest is paid.
    earn(ada.id, 1200)
    dry = run(app, "--dry-run")
    assert "would finish pending payout" in dry.output and "would pay $12.00 to Ada Sound" in dry.output
    result = run(app)
    assert result.exit_code == 0, result.output
    assert sorted(t.amount for t in transfers_to(emulated, ada.stripe_account_id)) == [1200, 1800]
    assert [p.status for p in payouts_of(ada.id)] == [PayoutStatus.SENT.value] * 2
    assert balance(ada.id) == 0


def test_a_dry_run_writes_and_sends_nothing(app, emulated):
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 4321)
    result = run(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would pay $43.21 to Ada Sound ({ada.stripe_account_id})" in result.output
    assert "nothing written or sent" in result.output
    assert payouts_of(ada.id) == [] and transfers_to(emulated, ada.stripe_account_id) == []
    assert balance(ada.id) == 4321


def test_refusals_fail_that_payout_and_the_run_goes_on(app, emulated):
    fund_platform(emulated, 3000)
    ada, _ = stripe_artist(emulated, "Ada Sound")
    bo, _ = stripe_artist(emulated, "Bo Rivers")
    cy, _ = stripe_artist(emulated, "Cy Twombly")
    # Stripe restricted Bo's account; the store has not heard yet.
    emulated.control(f"accounts/{bo.stripe_account_id}/restrict")
    emulated.wait()
    bo = fresh_artist(bo.id)
    bo.payouts_enabled = True
    db.session.commit()
    earn(ada.id, 2000)
    earn(bo.id, 1000)
    earn(cy.id, 5000)   # more than the platform has left after Ada's
    result = run(app)
    assert result.exit_code == 1, result.output
    assert "1 sent, 2 failed, 0 left pending" in result.output
    [paid] = payouts_of(ada.id)
    [refused] = payouts_of(bo.id)
    [short] = payouts_of(cy.id)
    assert paid.status == PayoutStatus.SENT.value
    assert refused.status == PayoutStatus.FAILED.value
    assert refused.error.startswith("insufficient_capabilities_for_transfer")
    assert short.status == PayoutStatus.FAILED.value and short.error.startswith("balance_insufficient")
    assert balance(bo.id) == 1000 and balance(cy.id) == 5000
    assert "FAILED payout" in result.output

    # Money arrives: the next run decides a new payout (a new key) for what is still owed.
    fund_platform(emulated, 10_000)
    again = run(app)
    assert again.exit_code == 1  # Bo's account still cannot receive
    assert [p.status for p in payouts_of(cy.id)] == [PayoutStatus.FAILED.value, PayoutStatus.SENT.value]
    assert balance(cy.id) == 0 and len(transfers_to(emulated, cy.stripe_account_id)) == 1


def test_a_refund_after_a_payout_is_netted_off_by_the_next(app, emulated):
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 1000)
    assert run(app).exit_code == 0
    refund(ada.id, 300)
    assert balance(ada.id) == -300
    result = run(app, "--minimum", "0")
    assert result.exit_code == 0 and "0 sent" in result.output   # nothing owed: nothing to do
    earn(ada.id, 2000)
    assert run(app).exit_code == 0
    assert sorted(t.amount for t in transfers_to(emulated, ada.stripe_account_id)) == [1000, 1700]
    assert balance(ada.id) == 0


def test_the_minimum_and_the_currency(app, emulated):
    fund_platform(emulated)
    fund_platform(emulated, 100_000, "jpy")
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 999)                 # $9.99
    earn(ada.id, 500, "JPY")          # ¥500
    # The default minimum, 10.00, is read in each currency's own units: $10.00, ¥10.
    assert "1 sent" in run(app).output
    assert [(t.currency, t.amount) for t in transfers_to(emulated, ada.stripe_account_id)] == [("jpy", 500)]
    assert balance(ada.id) == 999 and balance(ada.id, "JPY") == 0
    earn(ada.id, 700, "JPY")
    result = run(app, "--minimum", "5", "--currency", "usd")
    assert result.exit_code == 0 and "1 sent" in result.output, result.output
    assert sorted((t.currency, t.amount) for t in transfers_to(emulated, ada.stripe_account_id)) == [
        ("jpy", 500), ("usd", 999)]
    assert balance(ada.id, "JPY") == 700   # another currency: not this run's


@pytest.mark.parametrize(("args", "message"), [
    (["--currency", "XXX"], "cannot take payments in 'XXX'"),
    (["--minimum", "-5"], "plain amount"),
    (["--minimum", "ten"], "plain amount"),
    (["--minimum", "10.5", "--currency", "JPY"], "not a whole amount"),
])
def test_bad_options_do_nothing(app, emulated, args, message):
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 5000)
    result = run(app, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert payouts_of(ada.id) == []


def test_artists_not_ready_are_not_paid(app, emulated):
    fund_platform(emulated)
    ready, _ = stripe_artist(emulated, "Ready")
    halfway, _ = make_artist("Halfway")   # an account, onboarding not finished
    halfway.stripe_account_id = emulated.client.v1.accounts.create(params={"type": "express"}).id
    db.session.commit()
    switched, _ = stripe_artist(emulated, "Switched")  # the operator pays them by hand now
    switched.payout_method = PayoutMethod.MANUAL.value
    db.session.commit()
    for artist in (ready, halfway, switched):
        earn(artist.id, 2000)
    assert run(app).exit_code == 0
    assert [len(payouts_of(a.id)) for a in (ready, halfway, switched)] == [1, 0, 0]


def test_two_runs_at_once_pay_each_artist_once(app, emulated):
    """Two operators start a run at the same moment: each artist's payout is decided under a
    lock on the artist, so the second run finds it pending or paid and adds none."""
    fund_platform(emulated)
    artists = [stripe_artist(emulated, f"Artist {n}")[0] for n in range(3)]
    for n, artist in enumerate(artists):
        earn(artist.id, 1000 + n)
    start = threading.Barrier(2)
    results: list = []
    errors: list = []

    def one_run() -> None:
        with app.app_context():
            try:
                start.wait(10)
                results.append(runs.run())
            except Exception as exc:  # reported below, not lost in the thread
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 2
    for n, artist in enumerate(artists):
        assert [t.amount for t in transfers_to(emulated, artist.stripe_account_id)] == [1000 + n]
        assert [p.status for p in payouts_of(artist.id)] == [PayoutStatus.SENT.value]
        assert balance(artist.id) == 0


def test_stripe_unreachable_leaves_the_payout_pending_for_the_next_run(app, emulated):
    fund_platform(emulated)
    ada, _ = stripe_artist(emulated)
    earn(ada.id, 3000)
    real_url = app.config["STRIPE_API_URL"]
    app.config["STRIPE_API_URL"] = f"http://127.0.0.1:{free_port()}"   # nothing listens there
    try:
        down = run(app)
    finally:
        app.config["STRIPE_API_URL"] = real_url
    assert down.exit_code == 1 and "0 sent, 0 failed, 1 left pending" in down.output, down.output
    assert "NOT SENT" in down.output
    [pending] = payouts_of(ada.id)
    assert pending.status == PayoutStatus.PENDING.value and balance(ada.id) == 3000
    # New earnings meanwhile: the next run sends the pending payout (same key), then pays the rest.
    earn(ada.id, 1500)
    back = run(app)
    assert back.exit_code == 0, back.output
    assert sorted(t.amount for t in transfers_to(emulated, ada.stripe_account_id)) == [1500, 3000]
    assert [p.status for p in payouts_of(ada.id)] == [PayoutStatus.SENT.value] * 2
    assert balance(ada.id) == 0
