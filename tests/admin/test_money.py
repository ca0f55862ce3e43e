"""Money adds up: one set of orders, every surface that shows money, the same figures to the cent.

The orders: a plain paid one, a $1.00 one refunded in full, a $20.00 one with a $5.00 partial
refund, a lost dispute, an open one, a won one, and a pending one that counts nowhere. The
expected figures are worked out by hand from the definition in :mod:`shop.accounting`; each
surface (the dashboard's cards and hour table, the money chart's bars, the orders CSV, each
order's console page, ``flask catalog list``, the public pack page and its stats JSON) is read
back as text and must say the same.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from shop import accounting
from shop.accounting import pack_stats
from shop.extensions import db
from shop.models import Order
from shop.money import average_cents
from tests import factories
from tests.admin.test_dashboard import read_tables

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

# (e-mail, amount, status, refunded, dispute, hours after the pack's first hour)
ORDERS = [
    ("plain@example.com", 1000, "paid", 0, None, 0),
    ("full-refund@example.com", 100, "refunded", 100, None, 0),
    ("partial-refund@example.com", 2000, "paid", 500, None, 1),
    ("lost-dispute@example.com", 999, "disputed", 0, "lost", 1),
    ("open-dispute@example.com", 750, "disputed", 0, "open", 2),
    ("won-dispute@example.com", 1234, "paid", 0, "won", 2),
]
GROSS = 1000 + 100 + 2000 + 999 + 750 + 1234  # 6083
REFUNDED = 100 + 500
DISPUTED_LOST, DISPUTED_OPEN = 999, 750
NET = GROSS - REFUNDED - DISPUTED_LOST - DISPUTED_OPEN  # 3734: the plain, partial and won orders' kept money
KEPT = 3  # orders in good standing: plain, partly refunded, won dispute
AVERAGE = 1245  # 3734 / 3 = 1244.67, rounded (truncating would say 1244)
# Per order: (refunded, disputed, net)
PER_ORDER = {
    "plain@example.com": (0, 0, 1000),
    "full-refund@example.com": (100, 0, 0),
    "partial-refund@example.com": (500, 0, 1500),
    "lost-dispute@example.com": (0, 999, 0),
    "open-dispute@example.com": (0, 750, 0),
    "won-dispute@example.com": (0, 0, 1234),
}


def cents(text: str) -> int:
    """``$1,234.56`` or ``1234.56`` → ``123456`` (exactly, through Decimal)."""
    return int(Decimal(text.strip().replace("$", "").replace(",", "")) * 100)


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert found, f"no figure {name!r}"
    return found.group(1)


@pytest.fixture
def sold(app):
    """The pack, with the orders above paid in its first three hours (and one pending order)."""
    pack = factories.make_pack(app, slug="money-pack", starts_in=-timedelta(hours=3, minutes=30))
    first_hour = pack.starts_at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    orders = {}
    for i, (email, amount, status, refunded, dispute, hour) in enumerate(ORDERS):
        order, _ = factories.make_order(app, pack, email=email, amount_cents=amount)
        order.paid_at = order.created_at = first_hour + timedelta(hours=hour, minutes=5 + i)
        order.status, order.refunded_cents, order.dispute_status = status, refunded, dispute
        order.payment_intent_id, order.checkout_session_id = f"pi_test_{i}", f"cs_test_{i}"
        orders[email] = order
    factories.make_order(app, pack, paid=False, email="pending@example.com", amount_cents=4000)
    db.session.commit()
    return pack, orders


def test_the_module_adds_up(app, sold):
    pack, orders = sold
    figures = accounting.pack_money(pack.id)
    assert (figures.sales, figures.kept, figures.gross_cents, figures.refunded_cents, figures.refunds) == (
        6, KEPT, GROSS, REFUNDED, 2)
    assert (figures.disputed_lost_cents, figures.disputed_open_cents, figures.disputed_cents) == (
        DISPUTED_LOST, DISPUTED_OPEN, DISPUTED_LOST + DISPUTED_OPEN)
    assert (figures.disputes_lost, figures.disputes_open, figures.disputes_won) == (1, 1, 1)
    assert (figures.net_cents, figures.average_cents) == (NET, AVERAGE)
    assert accounting.packs_money() == {pack.id: figures}
    # The same rules for one loaded order as in SQL.
    for email, order in orders.items():
        money = accounting.order_money(order)
        assert (money.refunded_cents, money.disputed_cents, money.net_cents) == PER_ORDER[email]
        assert money.gross_cents == order.amount_cents
    assert sum(accounting.order_money(o).net_cents for o in db.session.scalars(db.select(Order))) == NET
    # The public pack page's figures are the same net and average.
    assert pack_stats(pack.id) == (KEPT, NET, AVERAGE)


def test_every_surface_says_the_same(app, admin_client, runner, sold):
    pack, orders = sold

    # The dashboard's cards.
    html = admin_client.get(f"/admin/?pack={pack.id}").data.decode()
    assert int(figure(html, "orders")) == 6
    assert cents(figure(html, "paid")) == GROSS
    assert cents(figure(html, "refunded")) == REFUNDED and int(figure(html, "refunds")) == 2
    assert cents(figure(html, "disputed")) == DISPUTED_LOST + DISPUTED_OPEN
    assert cents(figure(html, "disputed-lost")) == DISPUTED_LOST
    assert cents(figure(html, "disputed-open")) == DISPUTED_OPEN
    assert int(figure(html, "disputes-won")) == 1
    assert cents(figure(html, "net")) == NET
    assert cents(figure(html, "average")) == AVERAGE and int(figure(html, "kept")) == KEPT

    # The charts' hour table: orders, gross and net sum to the cards; the last average is the card's.
    hours = read_tables(html)["table-hours"]
    assert sum(int(r[1]) for r in hours) == 6
    assert sum(int(r[2]) for r in hours) == sum(cents(r[3]) for r in hours) == GROSS
    assert sum(int(r[4]) for r in hours) == sum(cents(r[5]) for r in hours) == NET
    assert cents(hours[-1][6]) == AVERAGE
    # The money chart's bars carry the same amounts (series 0 paid, series 1 net).
    chart = html[html.index('aria-labelledby="chart-money-per-hour-title'):]
    chart = chart[:chart.index("</svg>")]
    bars = re.findall(r'class="bar series-(\d)"[^>]*><title>[^<]*: ([^<]*)</title>', chart)
    assert sum(cents(v) for s, v in bars if s == "0") == GROSS
    assert sum(cents(v) for s, v in bars if s == "1") == NET

    # The orders CSV.
    rows = list(csv.DictReader(io.StringIO(admin_client.get(f"/admin/packs/{pack.id}/orders.csv").data.decode())))
    assert len(rows) == 7
    sold_rows = [r for r in rows if r["status"] != "pending"]
    assert sum(cents(r["amount"]) for r in sold_rows) == GROSS
    assert sum(cents(r["refunded"]) for r in rows) == REFUNDED
    assert sum(cents(r["disputed"]) for r in rows) == DISPUTED_LOST + DISPUTED_OPEN
    assert sum(cents(r["net"]) for r in rows) == NET
    by_email = {r["email"]: r for r in rows}
    for email, (refunded, disputed, net) in PER_ORDER.items():
        row = by_email[email]
        assert (cents(row["refunded"]), cents(row["disputed"]), cents(row["net"])) == (refunded, disputed, net)
        assert row["stripe_payment_intent"] == orders[email].payment_intent_id
        assert row["stripe_checkout_session"] == orders[email].checkout_session_id
    assert [by_email[e]["dispute"] for e in ("lost-dispute@example.com", "open-dispute@example.com",
                                             "won-dispute@example.com", "plain@example.com")] == [
        "lost", "open", "won", ""]
    assert by_email["pending@example.com"]["net"] == "0.00"

    # Each order's console page.
    totals = {"paid": 0, "refunded": 0, "disputed": 0, "net": 0}
    for email, order in orders.items():
        page = admin_client.get(f"/admin/orders/{order.id}").data.decode()
        shown = {name: cents(figure(page, name)) for name in totals}
        assert (shown["refunded"], shown["disputed"], shown["net"]) == PER_ORDER[email]
        assert shown["paid"] == order.amount_cents
        for name in totals:
            totals[name] += shown[name]
    assert totals == {"paid": GROSS, "refunded": REFUNDED, "disputed": DISPUTED_LOST + DISPUTED_OPEN, "net": NET}

    # flask catalog list.
    result = runner.invoke(args=["catalog", "list"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("6 orders:"))
    amounts = dict(re.findall(r"(paid|refunded|disputed|lost|risk|net|average) (\$[\d,.]+)", line))
    assert {k: cents(v) for k, v in amounts.items()} == {
        "paid": GROSS, "refunded": REFUNDED, "disputed": DISPUTED_LOST + DISPUTED_OPEN, "lost": DISPUTED_LOST,
        "risk": DISPUTED_OPEN, "net": NET, "average": AVERAGE}
    assert "1 open, 1 won" in line

    # The public pack page and its stats JSON: what is raised is the net, over orders in good standing.
    stats = app.test_client().get("/packs/money-pack/stats.json").get_json()
    assert (stats["purchases"], stats["total_cents"], stats["average_cents"]) == (KEPT, NET, AVERAGE)
    public = app.test_client().get("/packs/money-pack").data.decode()
    assert ">$37.34<" in public and ">$12.45<" in public


def test_averages_round_half_up_to_the_cent():
    assert average_cents(1001, 2) == 501  # 500.5
    assert average_cents(1003, 2) == 502  # 501.5
    assert average_cents(3734, 3) == 1245  # 1244.67
    assert average_cents(3733, 3) == 1244  # 1244.33
    assert average_cents(0, 0) == 0 and average_cents(5, 0) == 0
    # Exact for amounts a float would round wrongly: 2**53 + 1 cents over one order.
    assert average_cents(2**53 + 1, 1) == 2**53 + 1
    assert average_cents(2 * (2**53 + 1) + 1, 2) == 2**53 + 2


def test_a_pack_without_sales_lists_zero(app, runner, pack):
    result = runner.invoke(args=["catalog", "list"])
    assert "0 orders: paid $0.00, refunded $0.00, disputed $0.00" in result.output
    assert "net $0.00, average $0.00" in result.output
