"""The ledger through the Stripe emulator: a four-artist pack bought three times at different
amounts, one order refunded in part from the console's refund, one disputed and lost. Every
order's entries sum to what was paid net, each artist's statement shows the right figures to
the cent, and the dashboard's per-party rows add up to the pack's totals."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from shop.accounting import order_money, pack_money
from shop.admin.stats import dashboard
from shop.extensions import db
from shop.ledger.models import LedgerEntry, LedgerPosting
from shop.ledger.pack_figures import pack_parties
from shop.ledger.statements import statements
from shop.models import Order, utcnow
from shop.payments.refunds import refund_order
from tests import factories
from tests.payments.conftest import Buyer, Emulated, order_now

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

ARTISTS = ("Ana Reed", "Bo Lake", "Cy Moss", "Di Fern")
WEIGHTS = (1, 1, 2, 1)  # Cy's album counts twice: 20/20/40/20 of the artists' part
DISPUTE_FEE = 1500


def lr(total: int, weights: list[int]) -> list[int]:
    """Largest remainder, ties to the first (written again here, plainly)."""
    exact = [Fraction(total * w, sum(weights)) for w in weights]
    parts = [int(x) for x in exact]
    for n in sorted(range(len(weights)), key=lambda n: (-(exact[n] - parts[n]), n))[:total - sum(parts)]:
        parts[n] += 1
    return parts


@pytest.fixture
def four_artists(app):
    albums = tuple((artist, f"Record {n + 1}", "folk", ["First", "Second"]) for n, artist in enumerate(ARTISTS))
    pack = factories.make_pack(app, slug="demo-like", albums=albums, formats=("flac",), min_price_cents=500)
    pack.split_artists, pack.split_charity, pack.split_store = 80, 5, 15
    pack.charity_name = "Music for Schools"
    for album, weight in zip(sorted(pack.albums, key=lambda a: a.position), WEIGHTS, strict=True):
        album.share_weight = weight
    db.session.commit()
    return pack


def pay(buyer: Buyer, emulated: Emulated, slug: str, amount: str) -> tuple[int, str]:
    checkout = buyer.buy(slug, amount)
    result = emulated.pay(checkout.session_id)
    assert result["paid"], result
    buyer.come_back(result["redirect"])
    emulated.wait()
    return checkout.order_id, checkout.session_id


def test_three_orders_a_refund_and_a_lost_dispute_add_up(app, four_artists, buyer: Buyer,
                                                          emulated: Emulated) -> None:
    pack = four_artists
    small, small_session = pay(buyer, emulated, pack.slug, "12.00")
    middle, _ = pay(buyer, emulated, pack.slug, "25.00")
    disputed, disputed_session = pay(buyer, emulated, pack.slug, "7.77")
    request = refund_order(middle, 500, "requested_by_customer")
    assert request.refund_id is not None
    emulated.wait()
    dispute = emulated.control("disputes", {"charge": emulated.charge_of(disputed_session), "reason": "fraudulent"})
    emulated.wait()
    emulated.control(f"disputes/{dispute['id']}/close", {"outcome": "lost"})
    emulated.wait()
    # Events again, as Stripe may deliver them: nothing more is posted.
    before = db.session.scalar(select(func.count(LedgerEntry.id)))
    from shop.payments.stripe_events import sync_charge
    for session in (small_session, disputed_session):
        sync_charge(emulated.charge_of(session))
    db.session.commit()
    assert db.session.scalar(select(func.count(LedgerEntry.id))) == before

    amounts = {small: 1200, middle: 2500, disputed: 777}
    fees = {o: (a * 290 + 5000) // 10000 + 30 for o, a in amounts.items()}  # Stripe's 2.9 % + 30¢
    paid_net = {small: 1200, middle: 2000, disputed: 0}
    for order_id, net in paid_net.items():
        order = order_now(order_id)
        assert order_money(order).net_cents == net
        total = db.session.scalar(select(func.sum(LedgerEntry.amount_cents)).where(LedgerEntry.order_id == order_id))
        assert total == net, order_id
        stripe_fee = db.session.scalar(select(func.sum(LedgerEntry.amount_cents)).where(
            LedgerEntry.order_id == order_id, LedgerEntry.party == "stripe", LedgerEntry.kind == "fee"))
        assert stripe_fee == fees[order_id]
    keys = db.session.scalars(select(LedgerPosting.key).order_by(LedgerPosting.id)).all()
    assert keys[:3] == [f"sale:{small}", f"sale:{middle}", f"sale:{disputed}"]
    assert keys[3].startswith("refund:re_") and keys[4] == f"dispute:{dispute['id']}:withdrawn" and len(keys) == 5

    # Each artist's statement, worked out here from the shares: 80 % to the artists by album
    # weight (20/20/40/20), 5 % to the charity, 15 % to the store, Stripe's fee off first.
    albums = sorted(pack.albums, key=lambda a: a.position)
    artist_ids = [a.artist_id for a in albums]
    weights = [80 * p for p in (20, 20, 40, 20)] + [500, 1500]
    expected: dict[int, dict[str, int]] = {a: defaultdict(int) for a in artist_ids}
    for order_id, amount in amounts.items():
        gross = lr(amount, weights)
        net = lr(amount - fees[order_id], weights)
        for n, artist_id in enumerate(artist_ids):
            expected[artist_id]["gross"] += gross[n]
            expected[artist_id]["fees"] += gross[n] - net[n]
        if order_id == middle:
            for n, part in enumerate(lr(500, gross)[:4]):
                expected[artist_ids[n]]["refunds"] += part
        if order_id == disputed:
            for n, part in enumerate(lr(amount, gross)[:4]):
                expected[artist_ids[n]]["disputes"] += part
            for n, part in enumerate(lr(DISPUTE_FEE, net)[:4]):
                expected[artist_ids[n]]["fees"] += part
    month = utcnow().strftime("%Y-%m")
    for artist_id in artist_ids:
        [statement] = statements(artist_id, month)
        want = expected[artist_id]
        assert (statement.currency, statement.opening_cents, statement.gross_cents, statement.fees_cents,
                statement.refunds_cents, statement.disputes_cents, statement.paid_out_cents) == (
            "USD", 0, want["gross"], want["fees"], want["refunds"], want["disputes"], 0), artist_id
        assert statement.net_cents == want["gross"] - want["fees"] - want["refunds"] - want["disputes"]
    # Cy's album weighs twice the others: twice Ana's gross, give or take a cent per order.
    assert abs(expected[artist_ids[2]]["gross"] - 2 * expected[artist_ids[0]]["gross"]) <= 3

    # The dashboard: one row per artist, the charity, the store, Stripe; they add up to the totals.
    parties = pack_parties(pack.id)
    assert [r.party for r in parties] == ["artist"] * 4 + ["charity", "store", "stripe"]
    assert [r.name for r in parties[:4]] == list(ARTISTS)
    totals = pack_money(pack.id)
    assert sum(r.gross_cents for r in parties) == totals.gross_cents == 1200 + 2500 + 777
    assert sum(r.net_cents for r in parties) == totals.net_cents == 1200 + 2000
    assert sum(r.refunds_cents for r in parties) == -totals.refunded_cents
    assert sum(r.disputes_cents for r in parties) == -totals.disputed_cents
    assert sum(r.fees_cents for r in parties) == 0
    for row in parties[:4]:
        want = expected[row.artist_id]
        assert (row.gross_cents, -row.fees_cents, -row.refunds_cents, -row.disputes_cents) == (
            want["gross"], want["fees"], want["refunds"], want["disputes"])
    assert parties[-1].net_cents == sum(fees.values()) + DISPUTE_FEE
    assert dashboard(pack).parties == parties
    assert db.session.get(Order, small) is not None


def test_the_fee_comes_from_the_balance_transaction_in_the_order_currency(app) -> None:
    import stripe

    from shop.payments.fulfilment import charge_fee

    def charge(transaction: dict | None) -> stripe.Charge:
        return stripe.Charge.construct_from({"id": "ch_1", "object": "charge", "amount": 2000,
                                             "currency": "eur", "balance_transaction": transaction}, "sk_test")

    same = {"id": "txn_1", "object": "balance_transaction", "amount": 2000, "fee": 88, "currency": "eur"}
    assert charge_fee(charge(same), "EUR") == 88
    # Settled in USD at 1.1: the fee is brought back to euro cents at the transaction's own rate.
    settled = {**same, "amount": 2200, "fee": 94, "currency": "usd"}
    assert charge_fee(charge(settled), "EUR") == 85  # 94 × 2000 / 2200 = 85.45
    # No balance transaction (yet): no fee, logged.
    assert charge_fee(charge(None), "EUR") == 0
    assert charge_fee(charge("txn_not_expanded"), "EUR") == 0  # type: ignore[arg-type]


def keys_of(order_id: int) -> list[str]:
    db.session.expire_all()
    keys = list(db.session.scalars(select(LedgerPosting.key).where(LedgerPosting.order_id == order_id)
                                   .order_by(LedgerPosting.id)))
    db.session.commit()
    return keys


def entries_total(order_id: int) -> int:
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
                              .where(LedgerEntry.order_id == order_id))
    db.session.commit()
    return int(total)


def test_a_won_dispute_gives_the_money_back_and_stripe_keeps_its_dispute_fee(
        app, four_artists, buyer: Buyer, emulated: Emulated) -> None:
    order_id, session_id = pay(buyer, emulated, four_artists.slug, "20.00")
    dispute = emulated.control("disputes", {"charge": emulated.charge_of(session_id), "reason": "fraudulent"})
    emulated.wait()
    assert entries_total(order_id) == 0
    emulated.control(f"disputes/{dispute['id']}/close", {"outcome": "won"})
    emulated.wait()
    assert keys_of(order_id) == [f"sale:{order_id}", f"dispute:{dispute['id']}:withdrawn",
                                 f"dispute:{dispute['id']}:reinstated"]
    assert order_now(order_id).status == "paid" and entries_total(order_id) == 2000
    stripe_total = db.session.scalar(select(func.sum(LedgerEntry.amount_cents)).where(
        LedgerEntry.order_id == order_id, LedgerEntry.party == "stripe"))
    assert stripe_total == (2000 * 290 + 5000) // 10000 + 30 + DISPUTE_FEE


def test_an_inquiry_posts_nothing_and_a_failed_refund_is_given_back(
        app, four_artists, buyer: Buyer, emulated: Emulated) -> None:
    order_id, session_id = pay(buyer, emulated, four_artists.slug, "15.00")
    emulated.control("disputes", {"charge": emulated.charge_of(session_id), "reason": "fraudulent",
                                  "status": "warning_needs_response"})
    emulated.wait()
    assert keys_of(order_id) == [f"sale:{order_id}"]
    refund = refund_order(order_id, 400)
    emulated.wait()
    assert entries_total(order_id) == 1100
    emulated.control(f"refunds/{refund.refund_id}/fail")
    emulated.wait()
    assert order_now(order_id).refunded_cents == 0
    assert keys_of(order_id) == [f"sale:{order_id}", f"refund:{refund.refund_id}",
                                 f"refund:{refund.refund_id}:failed"]
    assert entries_total(order_id) == 1500
