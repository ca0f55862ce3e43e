"""The dashboard's numbers equal the database's: known orders at known times and amounts."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from shop.accounting import pack_stats
from shop.admin import charts, stats
from shop.downloads.models import DownloadCount
from shop.dropbox.models import Delivery
from shop.extensions import db
from shop.models import FORMATS, utcnow
from tests import factories

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


class TableReader(HTMLParser):
    """Rows of cell texts of each ``<table id=...>`` in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_tables(html: str) -> dict[str, list[list[str]]]:
    reader = TableReader()
    reader.feed(html)
    return reader.tables


def sell(app, pack, amount, at, email, status="paid"):
    order, _ = factories.make_order(app, pack, email=email, amount_cents=amount)
    order.paid_at = at
    order.created_at = at
    order.status = status
    db.session.commit()
    return order


def test_dashboard_tables_equal_the_database(app, admin_client):
    pack = factories.make_pack(app, slug="dash-pack", starts_in=-timedelta(hours=5, minutes=30))
    start = pack.starts_at.replace(minute=0, second=0, microsecond=0)
    sales = [(500, 0), (1500, 0), (1000, 2), (2599, 2), (700, 4)]  # (cents, hour after the start hour)
    orders = [sell(app, pack, cents, start + timedelta(hours=h, minutes=30), f"b{i}@example.com")
              for i, (cents, h) in enumerate(sales)]
    sell(app, pack, 900, start + timedelta(hours=1, minutes=10), "refunded@example.com", status="refunded")
    factories.make_order(app, pack, paid=False, email="pending@example.com", amount_cents=4000)
    db.session.add_all([
        DownloadCount(order_id=orders[0].id, kind="album", item_id=pack.albums[0].id, format="flac", count=3),
        DownloadCount(order_id=orders[1].id, kind="pack", item_id=0, format="mp3-v0", count=2),
        Delivery(order_id=orders[2].id, target="pack", format="flac", status="done"),
        Delivery(order_id=orders[3].id, target="pack", format="wav", status="failed", error="boom"),
    ])
    db.session.commit()

    response = admin_client.get(f"/admin/?pack={pack.id}")
    assert response.status_code == 200
    html = response.data.decode()
    tables = read_tables(html)

    count, total, average = pack_stats(pack.id)
    hours = tables["table-hours"]
    assert sum(int(r[1]) for r in hours) == count + 1 == 6  # every sale, the refunded one too
    assert sum(int(r[2]) for r in hours) == sum(c for c, _ in sales) + 900  # gross
    assert sum(int(r[4]) for r in hours) == total == sum(c for c, _ in sales)  # net
    by_hour = {r[0]: (int(r[1]), int(r[2]), int(r[4])) for r in hours}
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    assert by_hour[start.strftime(fmt)] == (2, 2000, 2000)
    assert by_hour[(start + timedelta(hours=2)).strftime(fmt)] == (2, 3599, 3599)
    assert by_hour[(start + timedelta(hours=4)).strftime(fmt)] == (1, 700, 700)
    assert by_hour[(start + timedelta(hours=1)).strftime(fmt)] == (1, 900, 0)  # the refunded sale: no net
    assert int(hours[-1][6].replace("$", "").replace(".", "")) == average
    now_hour = utcnow().replace(minute=0, second=0, microsecond=0)
    assert len(hours) == (now_hour - start) // timedelta(hours=1) + 1  # start hour to the current hour

    amounts = tables["table-amounts"]
    assert sum(int(r[3]) for r in amounts) == count
    for low, high, _, n in amounts:
        assert int(n) == sum(1 for c, _ in sales if int(low) <= c < int(high))

    formats = {r[0]: (int(r[1]), int(r[2])) for r in tables["table-formats"]}
    assert formats == {**{fmt: (0, 0) for fmt in FORMATS}, "mp3-v0": (2, 0), "flac": (3, 1)}
    deliveries = {r[0]: int(r[1]) for r in tables["table-deliveries"]}
    assert deliveries["done"] == 1 and deliveries["failed"] == 1

    assert 'data-figure="orders">6<' in html
    assert 'data-figure="paid">$71.99<' in html and 'data-figure="net">$62.99<' in html
    assert f'data-figure="average">${average // 100}.{average % 100:02d}<' in html
    assert 'data-figure="refunds">1<' in html and 'data-figure="refunded">$9.00<' in html
    # Accessible charts: each SVG has a title and a desc.
    assert html.count("<svg") == 5 and html.count("<title id=") == 5 and html.count("<desc id=") == 5
    assert "style=" not in html


def test_pack_selector_lists_on_sale_and_past_packs(app, admin_client, pack, ended_pack):
    html = admin_client.get("/admin/").data.decode()
    assert f'<option value="{pack.id}" selected>' in html and f'<option value="{ended_pack.id}">' in html
    assert admin_client.get(f"/admin/?pack={ended_pack.id}").status_code == 200
    assert admin_client.get("/admin/?pack=999999").status_code == 404


def test_empty_store_dashboard(admin_client):
    assert b"No packs yet" in admin_client.get("/admin/").data


def test_nice_steps_and_bar_geometry():
    assert stats.nice_step(2599) == 500 and stats.nice_step(7) == 1 and stats.nice_step(100_000) == 20_000
    assert charts.nice_max(7) == 10 and charts.nice_max(0) == 1 and charts.nice_max(2.1) == 2.5
    chart = charts.bar_chart("t", "d", ["a", "b"], [[1, 2]], [["1", "2"]])
    assert chart.bars[1].height == 2 * chart.bars[0].height
    assert chart.bars[1].y + chart.bars[1].height == chart.baseline


def test_a_single_point_is_drawn_as_a_marker():
    chart = charts.line_chart("Average", "d", ["06 Dec 10:00"], [1250], charts.Formatter("USD"), shown=["$12.50"])
    assert not chart.empty and chart.line == ""  # a polyline of one point would draw nothing
    assert len(chart.markers) == 1
    marker = chart.markers[0]
    assert charts.LEFT < marker.x < charts.WIDTH - charts.RIGHT and charts.TOP <= marker.y < chart.baseline
    assert (marker.label, marker.value) == ("06 Dec 10:00", "$12.50")
    # A long line keeps a marker on its last point only; a short one on each.
    many = charts.line_chart("t", "d", [str(i) for i in range(100)], list(range(1, 101)), charts.Formatter())
    assert len(many.markers) == 1 and many.markers[0].label == "99" and many.line.count(",") == 100
    assert len(charts.line_chart("t", "d", ["a", "b", "c"], [1, 2, 3], charts.Formatter()).markers) == 3


def test_a_packs_first_hour_with_one_sale_shows_a_marker_and_its_table(app, admin_client):
    now = utcnow()
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    # Its window is this hour only, so the table has one row even if the clock turns the hour.
    pack = factories.make_pack(app, slug="fresh-pack", starts_in=hour_start - now, lasts=timedelta(minutes=59))
    sell(app, pack, 1250, hour_start, "first@example.com")
    html = admin_client.get(f"/admin/?pack={pack.id}").data.decode()
    average = html[html.index('aria-labelledby="chart-average-title'):]
    average = average[:average.index("</svg>")]
    assert "<polyline" not in average
    assert "in each hour of the pack&#39;s window, 1 hour." in html and "1 hours" not in html
    marker = re.search(r'<circle class="point" cx="([\d.]+)" cy="([\d.]+)" r="4"><title>([^<]*)</title>', average)
    assert marker and marker.group(3).endswith(": $12.50")
    tables = read_tables(html)
    assert [r[1:] for r in tables["table-hours"]] == [["1", "1250", "$12.50", "1250", "$12.50", "$12.50"]]
    # Every chart has its table.
    assert {"table-hours", "table-amounts", "table-formats"} <= set(tables)
    assert html.count('<figure class="chart">') == 5


def test_the_per_artist_table_adds_up_to_the_pack_totals(app, admin_client, pack) -> None:
    """Orders paid through the test checkout are posted to the ledger; one refunded from the
    console is taken back; the table's rows add up to the pack's gross and net."""
    from shop.accounting import pack_money
    from shop.orders.service import mark_paid
    from shop.payments.refunds import refund_order

    pack.charity_name, pack.split_artists, pack.split_charity, pack.split_store = "Trees", 70, 10, 20
    db.session.commit()
    ids = []
    for amount in (1000, 777, 2501):
        order, _ = factories.make_order(app, pack, paid=False, amount_cents=amount)
        assert mark_paid(order.id)
        ids.append(order.id)
    refund_order(ids[1])
    html = admin_client.get(f"/admin/?pack={pack.id}").get_data(as_text=True)
    rows = read_tables(html)["table-parties"]
    names = [row[0] for row in rows]
    assert names == sorted({a.artist for a in pack.albums}, key=str.casefold) + ["Trees (charity)", "The store"]
    table = html.split('id="table-parties"', 1)[1].split("</table>", 1)[0]
    cents = [[int(c) for c in re.findall(r'data-cents="(-?\d+)"', line)]
             for line in table.split("<tr data-party=")[1:]]
    body, total = cents[:-1], cents[-1]
    totals = pack_money(pack.id)
    assert [sum(column) for column in zip(*body, strict=True)] == total
    assert total == [totals.gross_cents, 0, -totals.refunded_cents, 0, totals.net_cents] == [4278, 0, -777, 0, 3501]
    for gross, fees, refunds, disputes, net in body:
        assert gross + fees + refunds + disputes == net
