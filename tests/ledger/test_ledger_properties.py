"""The ledger's arithmetic under random orders (hypothesis), on SQLite and PostgreSQL.

Random amounts (0 to Stripe's maximum, in two-, zero- and three-decimal currencies), shares
(stored pay-box splits with per-artist percents, or the pack's defaults with album weights),
fees and tax, partial refunds (one failing after it was posted), disputes opened, won or lost
with dispute fees, and every posting replayed in a random order. After every step:

* the order's entries sum exactly to what the buyer has paid net;
* every party's sale share (gross and net) is within a minor unit of its exact proportional
  value, and so is every party's part of everything taken back so far;
* posting anything again adds nothing.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from shop.extensions import db
from shop.ledger.models import LedgerEntry, LedgerPosting
from shop.ledger.posting import (
    post_dispute_reinstated,
    post_dispute_withdrawn,
    post_refund,
    post_refund_failed,
    post_sale,
)
from shop.models import Order, OrderStatus, Pack, utcnow
from tests import factories

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

ARTISTS = ("Ana", "Bo", "Cy", "Di")
CURRENCIES = ("USD", "JPY", "KWD")
REVERSAL_KINDS = ("refund", "dispute", "dispute_reinstated")


def four_artist_pack(app):
    albums = tuple((artist, f"Album {n}", "rock", ["One"]) for n, artist in enumerate(ARTISTS))
    pack = factories.make_pack(app, slug="prop-pack", albums=albums, formats=("mp3-320",), previews=False)
    pack.charity_name = "A Charity"
    db.session.commit()
    return pack


@st.composite
def percents(draw, count: int) -> list[int]:
    """``count`` whole percentages summing to 100."""
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, 100]
    return [bounds[n + 1] - bounds[n] for n in range(count)]


@st.composite
def scenarios(draw) -> dict:
    currency = draw(st.sampled_from(CURRENCIES))
    amount = draw(st.one_of(st.integers(0, 99_999_999), st.integers(0, 3000)))
    tax = draw(st.one_of(st.just(0), st.integers(0, amount)))
    fee = draw(st.one_of(st.just(0), st.integers(0, min(amount - tax, 30 + amount // 30)),
                         st.integers(0, amount - tax)))
    artists, charity, store = draw(percents(3))
    stored = draw(st.booleans())
    per_artist = draw(percents(len(ARTISTS))) if stored else None
    weights = draw(st.lists(st.integers(0, 5), min_size=len(ARTISTS), max_size=len(ARTISTS)))
    steps = []
    left = amount
    for _ in range(draw(st.integers(0, 3))):
        if left <= 0:
            break
        refund = draw(st.integers(1, left))
        steps.append(("refund", refund))
        left -= refund
    if steps and draw(st.booleans()):
        steps.append(("refund_failed", draw(st.integers(0, len(steps) - 1))))
    dispute = draw(st.sampled_from([None, "open", "lost", "won", "won_fee_back"]))
    dispute_fee = draw(st.sampled_from([0, 1500, 2000]))
    return {"currency": currency, "amount": amount, "fee": fee, "tax": tax,
            "split": (artists, charity, store), "stored": stored, "per_artist": per_artist,
            "weights": weights, "steps": steps, "dispute": dispute, "dispute_fee": dispute_fee}


def by_payee(order_id: int, kinds: tuple[str, ...] | None = None, sale_only: bool = False
             ) -> dict[tuple[str, int | None], int]:
    query = (select(LedgerEntry.party, LedgerEntry.artist_id, func.sum(LedgerEntry.amount_cents))
             .join(LedgerPosting, LedgerPosting.id == LedgerEntry.posting_id)
             .where(LedgerEntry.order_id == order_id).group_by(LedgerEntry.party, LedgerEntry.artist_id))
    if kinds is not None:
        query = query.where(LedgerEntry.kind.in_(kinds))
    if sale_only:
        query = query.where(LedgerPosting.kind == "sale")
    return {(p, a): int(total) for p, a, total in db.session.execute(query).tuples()}


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count(LedgerPosting.id))) or 0,
            db.session.scalar(select(func.count(LedgerEntry.id))) or 0)


def exact_weights(pack, s: dict) -> dict[tuple[str, int | None], Fraction]:
    """Each party's exact fraction of the split, computed here independently of the ledger."""
    artists, charity, store = s["split"]
    albums = sorted(pack.albums, key=lambda a: a.position)
    if s["per_artist"] is not None:
        per = {a.artist_id: Fraction(p, 100) for a, p in zip(albums, s["per_artist"], strict=True)}
    elif sum(s["weights"]):
        per = {a.artist_id: Fraction(w, sum(s["weights"])) for a, w in zip(albums, s["weights"], strict=True)}
    else:
        per = {a.artist_id: Fraction(1, len(albums)) for a in albums}
    found = {("artist", artist_id): Fraction(artists, 100) * part for artist_id, part in per.items()}
    found[("charity", None)] = Fraction(charity, 100)
    found[("store", None)] = Fraction(store, 100)
    return {k: v for k, v in found.items() if v}


def check_sale(order_id: int, s: dict, weights: dict) -> None:
    gross = by_payee(order_id, ("share",))
    net = by_payee(order_id, sale_only=True)
    for payee, part in weights.items():
        assert abs(gross.get(payee, 0) - part * s["amount"]) < 1, (payee, gross)
        assert abs(net.get(payee, 0) - part * (s["amount"] - s["fee"] - s["tax"])) < 1, (payee, net)
        # A party's fee and tax parts never turn into a gain.
        assert net.get(payee, 0) <= gross.get(payee, 0)
    assert set(gross) <= set(weights)
    assert net.get(("stripe", None), 0) == s["fee"] and net.get(("tax", None), 0) == s["tax"]


def check_taken_back(order_id: int, amount: int) -> None:
    """Each party's part of what went back so far is within a unit of its exact proportion of it."""
    sale = by_payee(order_id, ("share", "tax"), sale_only=True)
    sale.pop(("stripe", None), None)
    taken = {k: -v for k, v in by_payee(order_id, REVERSAL_KINDS).items()}
    total = sum(taken.values())
    for payee, weight in sale.items():
        assert abs(taken.get(payee, 0) - Fraction(total * weight, amount)) < 1, (payee, taken, sale)


def run(app, pack, s: dict) -> None:
    artists, charity, store = s["split"]
    for album, weight in zip(sorted(pack.albums, key=lambda a: a.position), s["weights"], strict=True):
        album.share_weight = weight
    pack.split_artists, pack.split_charity, pack.split_store = artists, charity, store
    order = Order(pack=pack, email="prop@example.com", amount_cents=s["amount"], currency=s["currency"],
                  status=OrderStatus.PAID.value, payment_provider="test",
                  payment_ref=f"prop-{utcnow().timestamp()}-{id(s)}", paid_at=utcnow())
    if s["stored"]:
        order.split_artists, order.split_charity, order.split_store = artists, charity, store
        order.artist_split = json.dumps([{"album_id": a.id, "artist": a.artist, "percent": p} for a, p in
                                         zip(sorted(pack.albums, key=lambda a: a.position), s["per_artist"],
                                             strict=True)])
    db.session.add(order)
    db.session.commit()
    weights = exact_weights(pack, s)
    moves = [lambda: post_sale(order, s["fee"], s["tax"])]
    paid_net = s["amount"]
    refunds: list[tuple[str, int]] = []
    for kind, value in s["steps"]:
        if kind == "refund":
            key = f"refund:re_{order.id}_{len(refunds)}"
            refunds.append((key, value))
            moves.append(lambda key=key, value=value: post_refund(order, key, value))
            paid_net -= value
        else:
            key, value = refunds[value]
            moves.append(lambda key=key: post_refund_failed(order, key))
            paid_net += value
    dispute_id = f"dp_{order.id}"
    if s["dispute"] is not None and paid_net > 0:
        withdrawn = paid_net
        moves.append(lambda: post_dispute_withdrawn(order, dispute_id, withdrawn, s["dispute_fee"]))
        paid_net -= withdrawn
        if s["dispute"].startswith("won"):
            back = s["dispute_fee"] if s["dispute"] == "won_fee_back" else 0
            moves.append(lambda: post_dispute_reinstated(order, dispute_id, withdrawn, back))
            paid_net += withdrawn
    for n, move in enumerate(moves):
        move()
        db.session.commit()
        before = counts()
        move()  # a replay
        db.session.commit()
        assert counts() == before
        if n == 0:
            if s["amount"]:
                check_sale(order.id, s, weights)
            else:
                assert before == (0, 0) or not by_payee(order.id)
        elif s["amount"]:
            check_taken_back(order.id, s["amount"])
    assert sum(by_payee(order.id).values()) == (paid_net if s["amount"] else 0)
    before = counts()
    for move in reversed(moves):  # everything again, newest first
        move()
    db.session.commit()
    assert counts() == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(s=scenarios())
def test_every_order_adds_up_to_what_its_buyer_paid_net(app, s) -> None:
    pack = db.session.scalar(select(Pack).where(Pack.slug == "prop-pack")) or four_artist_pack(app)
    run(app, pack, s)
