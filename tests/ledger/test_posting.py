"""Posting orders to the ledger: the sale's split to the cent, refunds and disputes in the same
proportions, each movement once (replays, and two at once on PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import pytest
from sqlalchemy import select, text

from shop.extensions import db
from shop.ledger.models import LedgerEntry, LedgerPosting
from shop.ledger.posting import (
    PostingError,
    largest_remainder,
    order_entries_total,
    order_shares,
    post_dispute_reinstated,
    post_dispute_withdrawn,
    post_refund,
    post_refund_failed,
    post_sale,
    sale_entries,
)
from shop.models import CODE_PROVIDER, Order, OrderStatus
from shop.orders.service import mark_paid
from shop.payments.refunds import refund_order
from tests import factories
from tests.services import wait_until

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def entries_by(order_id: int) -> dict[tuple[str, int | None], dict[str, int]]:
    """``{(party, artist_id): {kind: cents}}`` over the order's entries."""
    found: dict[tuple[str, int | None], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in db.session.scalars(select(LedgerEntry).where(LedgerEntry.order_id == order_id)):
        found[(e.party, e.artist_id)][e.kind] += e.amount_cents
    return {k: dict(v) for k, v in found.items()}


def totals_by(order_id: int) -> dict[tuple[str, int | None], int]:
    return {k: sum(v.values()) for k, v in entries_by(order_id).items()}


def split_order(pack, amount: int = 1000, artists: int = 80, charity: int = 10, store: int = 10,
                percents: tuple[int, ...] = (50, 50)) -> Order:
    """A paid test-provider order of ``pack`` with a stored pay-box split."""
    order, _ = factories.make_order(None, pack, amount_cents=amount)
    albums = sorted(pack.albums, key=lambda a: a.position)
    order.split_artists, order.split_charity, order.split_store = artists, charity, store
    order.artist_split = json.dumps([{"album_id": a.id, "artist": a.artist, "percent": p}
                                     for a, p in zip(albums, percents, strict=True)])
    db.session.commit()
    return order


@pytest.fixture
def charity_pack(pack):
    pack.charity_name = "Music Ed"
    db.session.commit()
    return pack


def test_largest_remainder_is_exact_and_breaks_ties_to_the_first() -> None:
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert largest_remainder(941, [4000, 4000, 1000, 1000]) == [377, 376, 94, 94]
    assert largest_remainder(0, [0, 0]) == [0, 0]
    assert largest_remainder(7, [0, 3, 0]) == [0, 7, 0]
    # A bound moves the unit to the next largest remainder instead.
    assert largest_remainder(100, [1, 1, 1], high=[33, 34, 34]) == [33, 34, 33]
    assert largest_remainder(100, [1, 1, 1], low=[33, 33, 34]) == [33, 33, 34]
    with pytest.raises(ValueError):
        largest_remainder(5, [0, 0])
    with pytest.raises(ValueError):
        largest_remainder(-1, [1])


def test_sale_entries_take_the_fee_and_tax_off_before_the_split() -> None:
    from shop.ledger.posting import STORE, STRIPE, TAX, Payee, Shares
    a, b = Payee("artist", 1), Payee("artist", 2)
    entries = sale_entries(1000, 59, 100, Shares((a, b, STORE), (45, 45, 10)))
    assert sum(c for *_, c in entries) == 1000
    by = defaultdict(int)
    for payee, _kind, cents in entries:
        by[payee] += cents
    # Net shares: 841 split 45/45/10 -> 378.45, 378.45, 84.1 -> 379, 378, 84.
    assert (by[a], by[b], by[STORE], by[STRIPE], by[TAX]) == (379, 378, 84, 59, 100)
    gross = {p: c for p, k, c in entries if k == "share"}
    assert (gross[a], gross[b], gross[STORE]) == (450, 450, 100)
    with pytest.raises(PostingError):
        sale_entries(100, 60, 50, Shares((a,), (1,)))


def test_a_sale_is_split_to_the_cent_and_posted_once(app, charity_pack) -> None:
    order = split_order(charity_pack)
    first, second = sorted(charity_pack.albums, key=lambda a: a.position)
    assert post_sale(order, fee_cents=59) is not None
    assert post_sale(order, fee_cents=59) is None  # replayed
    db.session.commit()
    assert entries_by(order.id) == {
        ("artist", first.artist_id): {"share": 400, "fee": -23},
        ("artist", second.artist_id): {"share": 400, "fee": -24},
        ("charity", None): {"share": 100, "fee": -6},
        ("store", None): {"share": 100, "fee": -6},
        ("stripe", None): {"fee": 59},
    }
    assert order_entries_total(order.id) == 1000
    assert db.session.scalar(select(LedgerPosting.key).where(LedgerPosting.order_id == order.id)) \
        == f"sale:{order.id}"


def test_a_full_refund_leaves_each_party_its_part_of_the_fee(app, charity_pack) -> None:
    order = split_order(charity_pack)
    post_sale(order, fee_cents=59)
    post_refund(order, "refund:re_1", 300)
    post_refund(order, "refund:re_1", 300)  # the same refund again
    post_refund(order, "refund:re_2", 700)
    db.session.commit()
    first, second = sorted(charity_pack.albums, key=lambda a: a.position)
    assert totals_by(order.id) == {("artist", first.artist_id): -23, ("artist", second.artist_id): -24,
                                   ("charity", None): -6, ("store", None): -6, ("stripe", None): 59}
    assert order_entries_total(order.id) == 0
    # A refund that failed after it was posted gives the money back to the parties.
    post_refund_failed(order, "refund:re_2")
    post_refund_failed(order, "refund:re_2")
    db.session.commit()
    assert order_entries_total(order.id) == 700


def test_a_dispute_withdraws_with_its_fee_and_a_won_one_restores(app, charity_pack) -> None:
    order = split_order(charity_pack, amount=2000)
    post_sale(order, fee_cents=88)
    post_dispute_withdrawn(order, "dp_1", 2000, fee_cents=1500)
    post_dispute_withdrawn(order, "dp_1", 2000, fee_cents=1500)
    db.session.commit()
    assert order_entries_total(order.id) == 0
    totals = totals_by(order.id)
    assert totals[("stripe", None)] == 88 + 1500
    assert sum(v for k, v in totals.items() if k[0] != "stripe") == -1588
    post_dispute_reinstated(order, "dp_1", 2000)
    db.session.commit()
    assert order_entries_total(order.id) == 2000
    kinds = {k for v in entries_by(order.id).values() for k in v}
    assert {"dispute", "dispute_fee", "dispute_reinstated"} <= kinds


def test_tax_goes_to_the_tax_party_and_back_on_a_refund(app, pack) -> None:
    order = split_order(pack, amount=1200, artists=90, charity=0, store=10)
    post_sale(order, fee_cents=65, tax_cents=200)
    db.session.commit()
    totals = totals_by(order.id)
    assert totals[("tax", None)] == 200 and ("charity", None) not in totals
    post_refund(order, "refund:re_all", 1200)
    db.session.commit()
    assert totals_by(order.id)[("tax", None)] == 0
    assert order_entries_total(order.id) == 0


def test_orders_without_a_split_use_the_pack_default_and_album_weights(app, pack) -> None:
    first, second = sorted(pack.albums, key=lambda a: a.position)
    first.share_weight, second.share_weight = 3, 1
    pack.split_artists, pack.split_store = 80, 20
    order, _ = factories.make_order(app, pack, amount_cents=1000)
    db.session.commit()
    shares = order_shares(order)
    assert [p.artist_id for p in shares.payees] == [first.artist_id, second.artist_id, None]
    post_sale(order)
    db.session.commit()
    assert totals_by(order.id) == {("artist", first.artist_id): 600, ("artist", second.artist_id): 200,
                                   ("store", None): 200}


def test_stored_percents_follow_the_album_to_its_artist(app, pack) -> None:
    """Two albums of one artist record: their percents add up on that artist."""
    first, second = sorted(pack.albums, key=lambda a: a.position)
    second.artist_id = first.artist_id
    db.session.commit()
    order = split_order(pack, amount=999, artists=100, charity=0, store=0, percents=(30, 70))
    post_sale(order)
    db.session.commit()
    assert totals_by(order.id) == {("artist", first.artist_id): 999}


def test_code_and_zero_orders_post_nothing(app, pack) -> None:
    free, _ = factories.make_order(app, pack, amount_cents=0)
    coded, _ = factories.make_order(app, pack, amount_cents=1000)
    coded.payment_provider = CODE_PROVIDER
    db.session.commit()
    assert post_sale(free) is None and post_sale(coded) is None
    assert db.session.scalar(select(db.func.count(LedgerPosting.id))) == 0


def test_the_test_checkout_posts_the_sale_and_the_console_refund_its_reversal(app, pack) -> None:
    order, _ = factories.make_order(app, pack, paid=False, amount_cents=1500)
    assert mark_paid(order.id)
    assert not mark_paid(order.id)
    assert order_entries_total(order.id) == 1500
    refund_order(order.id)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.REFUNDED.value
    assert order_entries_total(order.id) == 0
    keys = db.session.scalars(select(LedgerPosting.key).order_by(LedgerPosting.id)).all()
    assert keys == [f"sale:{order.id}", f"refund:test:{order.id}"]


def test_a_refund_before_any_sale_posting_posts_the_sale_first(app, pack) -> None:
    order, _ = factories.make_order(app, pack, amount_cents=800)  # paid before the ledger
    post_refund(order, "refund:re_old", 800)
    db.session.commit()
    assert order_entries_total(order.id) == 0
    assert db.session.scalar(select(db.func.count(LedgerPosting.id))) == 2


def test_two_sessions_posting_one_sale_at_once_make_one_posting(app, pack) -> None:
    """On PostgreSQL the second insert waits on the unique key, then finds it taken: its
    savepoint is rolled back and its transaction goes on."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and a waiting unique index: PostgreSQL")
    order, _ = factories.make_order(app, pack, amount_cents=1234)
    order_id = order.id
    db.session.commit()
    first_flushed = threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            results["first"] = post_sale(db.session.get(Order, order_id), fee_cents=66) is not None
            first_flushed.set()
            # Wait until the second session is blocked on the unique index, then commit. The
            # wait ends as soon as it is; its limit is for a second session that never gets
            # there, and is generous because a busy machine may take its time to get there.
            # Each look is its own transaction: PostgreSQL keeps one snapshot of
            # pg_stat_activity for a whole transaction, so a single one might never see it.
            def second_is_waiting() -> bool:
                with db.engine.connect() as watcher:
                    return bool(watcher.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()")).scalar())

            results["waited"] = wait_until(second_is_waiting, timeout=120, interval=0.01)
            db.session.commit()

    def second() -> None:
        with app.app_context():
            first_flushed.wait(120)
            order = db.session.get(Order, order_id)
            results["second"] = post_sale(order, fee_cents=66) is not None
            db.session.add(order)  # the transaction is usable after the lost race
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert results == {"first": True, "waited": True, "second": False}
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count(LedgerPosting.id))) == 1
    assert order_entries_total(order_id) == 1234


def test_the_ledger_refuses_updates_and_deletes(app, pack) -> None:
    from shop.ledger.models import AppendOnlyError
    order, _ = factories.make_order(app, pack)
    post_sale(order)
    db.session.commit()
    entry = db.session.scalars(select(LedgerEntry)).first()
    entry.amount_cents += 1
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert order_entries_total(order.id) == 1000
