"""Search, the order page, each order action, and the CSV export."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
from pathlib import Path

import pytest

from shop.admin import orders as admin_orders
from shop.downloads.models import DownloadCount
from shop.dropbox.models import Delivery
from shop.extensions import db
from shop.models import Order, OrderLink
from shop.order_links import find_order
from tests import factories
from tests.admin.conftest import audit_rows

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def outbox(app) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            for f in sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))]


def link_in(msg) -> str:
    return re.search(r"http://shop\.test/orders/([A-Za-z0-9_-]{43})", msg.get_body(("plain",)).get_content()).group(1)


def test_search_by_email_number_and_payment_reference(app, admin_client, pack):
    a, _ = factories.make_order(app, pack, email="Alice.Fan@example.com")
    b, _ = factories.make_order(app, pack, email="bob@example.org")
    b.payment_ref = "cs_test_ABC123"
    db.session.commit()

    def found(q):
        html = admin_client.get("/admin/orders", query_string={"q": q}).data.decode()
        return {int(n) for n in re.findall(r'href="/admin/orders/(\d+)"', html)}

    assert found("alice") == {a.id} and found("ALICE.FAN@EXAMPLE") == {a.id}
    assert found("example") == {a.id, b.id}
    assert found(str(b.id)) == {b.id} and found(f"#{a.id}") == {a.id}
    assert found("cs_test_abc123") == {b.id} and found("ABC1") == {b.id}
    assert found("nobody") == set() and found("%") == set()
    assert found("t_a") == {b.id} and found("b_c") == set()  # "_" is a literal underscore
    assert b"No order matches" in admin_client.get("/admin/orders?q=nobody").data
    assert admin_client.get("/admin/orders?q=" + "9" * 30).status_code == 200


def test_search_by_stripe_ids_kept_on_the_order(app, admin_client, pack):
    paid, _ = factories.make_order(app, pack, email="paid@example.com")
    paid.checkout_session_id, paid.payment_intent_id = "cs_test_a1B2c3D4e5", "pi_3PqRsTuV_wxyz"
    pending, _ = factories.make_order(app, pack, paid=False, email="pending@example.com")
    pending.checkout_session_id = "cs_test_PENDING99"
    other, _ = factories.make_order(app, pack, email="other@example.com")
    db.session.commit()

    def found(q):
        response = admin_client.get("/admin/orders", query_string={"q": q})
        assert response.status_code == 200
        return {int(n) for n in re.findall(r'href="/admin/orders/(\d+)"', response.data.decode())}

    assert found("pi_3PqRsTuV_wxyz") == {paid.id} and found("  cs_test_a1B2c3D4e5 ") == {paid.id}
    assert found("cs_test_PENDING99") == {pending.id}  # an unpaid order's session too
    assert found("pi_3pqrstuv") == {paid.id}  # a fragment, any case
    assert found("cs_test_") == {paid.id, pending.id}
    # A charge id with no Stripe configured: nothing found, and the operator is told why.
    html = admin_client.get("/admin/orders", query_string={"q": "ch_3PqRsTuVwxyz"}).data.decode()
    assert "Stripe could not be asked about charge ch_3PqRsTuVwxyz" in html and "No order matches" in html
    assert other.id not in found("pi_")


def test_search_with_hostile_input(app, admin_client, pack):
    plain, _ = factories.make_order(app, pack, email="plain@example.com")
    percent, _ = factories.make_order(app, pack, email="100%_off@example.com")
    unicode, _ = factories.make_order(app, pack, email="jürgen.straße@exämple.de")
    db.session.commit()

    def found(q):
        response = admin_client.get("/admin/orders", query_string={"q": q})
        assert response.status_code == 200, q
        return {int(n) for n in re.findall(r'href="/admin/orders/(\d+)"', response.data.decode())}

    assert found("%") == {percent.id} and found("_") == {percent.id} and found("%_") == {percent.id}
    assert found("0%_o") == {percent.id} and found("0__o") == set() and found("p%n") == set()
    assert found("\\") == set() and found("'; DROP TABLE orders; --") == set()
    assert found("straße") == {unicode.id} and found("exämple") == {unicode.id} and found("ü") == {unicode.id}
    assert found("😀") == set() and found("\u202egnp.exe") == set()
    assert found("a" * 10_000) == set() and found("9" * 10_000) == set()  # cut to 254 characters
    html = admin_client.get("/admin/orders", query_string={"q": "plain\x00"}).data.decode()
    assert "cannot contain a NUL" in html
    assert found("plain") == {plain.id}
    assert db.session.scalar(db.select(db.func.count(Order.id))) == 3


def test_order_page_shows_links_downloads_and_deliveries(app, admin_client, pack):
    order, _ = factories.make_order(app, pack)
    db.session.add_all([
        DownloadCount(order_id=order.id, kind="pack", item_id=0, format="flac", count=4),
        Delivery(order_id=order.id, target="pack", format="mp3-v0", status="failed", error="Dropbox is full"),
    ])
    db.session.commit()
    html = admin_client.get(f"/admin/orders/{order.id}").data.decode()
    assert 'id="order-status">paid<' in html and order.payment_ref in html and "$10.00" in html
    assert "Dropbox is full" in html and ">4<" in html and "valid" in html
    assert admin_client.get("/admin/orders/999999").status_code == 404


def test_resend_receipt_mints_a_new_link_and_keeps_the_old(app, admin_client, pack):
    order, old = factories.make_order(app, pack)
    response = admin_client.post(f"/admin/orders/{order.id}/resend-receipt")
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/orders/{order.id}"
    [msg] = outbox(app)
    assert msg["To"] == order.email
    new = link_in(msg)
    assert find_order(new).id == order.id and find_order(old).id == order.id
    assert audit_rows()[-1].action == "order.resend_receipt"


def test_replace_links_revokes_the_old_ones(app, admin_client, client, pack):
    order, old = factories.make_order(app, pack)
    assert client.get(f"/orders/{old}").status_code == 200
    admin_client.post(f"/admin/orders/{order.id}/replace-links")
    [msg] = outbox(app)
    new = link_in(msg)
    assert find_order(old) is None and find_order(new).id == order.id
    assert client.get(f"/orders/{old}").status_code == 404
    assert client.get(f"/orders/{new}").status_code == 200
    event = audit_rows()[-1]
    assert event.action == "order.replace_links" and event.details == {"revoked": 1}
    assert "revoked" in admin_client.get(f"/admin/orders/{order.id}").data.decode()


def test_links_of_unpaid_orders_are_refused(app, admin_client, pack):
    order, _ = factories.make_order(app, pack, paid=False)
    response = admin_client.post(f"/admin/orders/{order.id}/replace-links", follow_redirects=True)
    assert b"only paid orders get links" in response.data
    assert outbox(app) == []


def test_grant_creates_a_free_paid_order_and_mails_it(app, admin_client, pack):
    response = admin_client.post("/admin/grants", data={"pack_id": pack.id, "email": " Gift@Example.com "})
    assert response.status_code == 303
    order = db.session.scalar(db.select(Order).where(Order.email == "gift@example.com"))
    assert order.amount_cents == 0 and order.is_paid and order.payment_provider == "grant" and order.paid_at
    assert response.headers["Location"] == f"/admin/orders/{order.id}"
    [msg] = outbox(app)
    assert find_order(link_in(msg)).id == order.id
    assert audit_rows()[-1].action == "order.grant"
    bad = admin_client.post("/admin/grants", data={"pack_id": pack.id, "email": "not an address"},
                            follow_redirects=True)
    assert b"No copy granted" in bad.data
    assert admin_client.post("/admin/grants", data={"pack_id": 999999, "email": "a@example.com"}).status_code == 404


def test_refund_through_the_provider_closes_the_links_of_an_order_no_provider_took_money_for(
        app, admin_client, client, pack):
    order, token = factories.make_order(app, pack)
    page = admin_client.get(f"/admin/orders/{order.id}").data.decode()
    assert 'name="amount"' in page and 'value="requested_by_customer"' in page and ">Refund<" in page
    # Only Stripe orders can be refunded in part; the refusal is shown and audited, nothing changes.
    partial = admin_client.post(f"/admin/orders/{order.id}/refund", data={"amount": "1.00"}, follow_redirects=True)
    assert b"No refund: " in partial.data and b"only a full refund can be recorded" in partial.data
    assert audit_rows()[-1].action == "order.refund.refused"
    bad = admin_client.post(f"/admin/orders/{order.id}/refund", data={"amount": "-3"}, follow_redirects=True)
    assert b"an amount cannot be negative" in bad.data
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "paid"

    response = admin_client.post(f"/admin/orders/{order.id}/refund",
                                 data={"amount": "", "reason": "requested_by_customer"}, follow_redirects=True)
    assert b"recorded as refunded" in response.data
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "refunded"
    assert ".zip" not in client.get(f"/orders/{token}").data.decode()
    event = audit_rows()[-1]
    assert event.action == "order.refund"
    assert event.details["revoked_now"] is True and event.details["reason"] == "requested_by_customer"
    again = admin_client.post(f"/admin/orders/{order.id}/refund", follow_redirects=True)
    assert b"not paid" in again.data
    assert b'name="amount"' not in admin_client.get(f"/admin/orders/{order.id}").data


def test_csv_export_with_injection_escaped(app, admin_client, pack, ended_pack):
    factories.make_order(app, pack, email="plain@example.com", amount_cents=1234)
    starts = ("=", "+", "-", "@", "\t", "\r")
    for start in starts:
        evil, _ = factories.make_order(app, pack, email=f"{start}cmd@example.com")
        evil.payment_ref = f"{start}SUM(A1:A9)"
        evil.payment_intent_id, evil.checkout_session_id = f"{start}pi_1", f"{start}HYPERLINK(\"x\")"
    db.session.commit()
    factories.make_order(app, ended_pack, email="other-pack@example.com")
    response = admin_client.get(f"/admin/packs/{pack.id}/orders.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{pack.slug}-orders.csv"'
    text = response.data.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [column.header for column in admin_orders.CSV_COLUMNS]
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r["email"] for r in records] == ["plain@example.com"] + [f"'{s}cmd@example.com" for s in starts]
    assert records[0]["amount"] == "12.34" and records[0]["net"] == "12.34" and records[0]["refunded"] == "0.00"
    for record, start in zip(records[1:], starts, strict=True):
        assert record["payment_ref"] == f"'{start}SUM(A1:A9)"
        assert record["stripe_payment_intent"] == f"'{start}pi_1"
        assert record["stripe_checkout_session"].startswith("'")
    # No cell of the file starts like a formula.
    assert not [cell for row in rows for cell in row if cell.startswith(starts)]
    assert admin_client.get("/admin/packs/999999/orders.csv").status_code == 404


def test_csv_cell_escapes_every_formula_start():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert admin_orders.csv_cell(start + "x") == "'" + start + "x"
    assert admin_orders.csv_cell("a=b") == "a=b" and admin_orders.csv_cell(None) == ""


def test_revoked_links_open_nothing(app, pack):
    order, token = factories.make_order(app, pack)
    link = db.session.scalar(db.select(OrderLink).where(OrderLink.order_id == order.id))
    from shop.models import utcnow

    link.revoked_at = utcnow()
    db.session.commit()
    assert find_order(token) is None


def test_restore_access_opens_a_disputed_order_again_audited(app, admin_client, client, pack):
    """Review 2026-12 L11: the console had no way to restore a disputed order."""
    from shop.models import DisputeStatus, OrderStatus
    from shop.orders.service import suspend_access

    order, token = factories.make_order(app, pack)
    db.session.execute(db.update(Order).where(Order.id == order.id).values(dispute_status=DisputeStatus.LOST.value))
    db.session.commit()
    suspend_access(order.id, OrderStatus.DISPUTED)
    assert client.get(f"/orders/{token}/pack/flac.zip").status_code == 404
    page = admin_client.get(f"/admin/orders/{order.id}").data.decode()
    assert f'action="/admin/orders/{order.id}/restore-access"' in page
    response = admin_client.post(f"/admin/orders/{order.id}/restore-access", follow_redirects=True)
    assert b"is paid again" in response.data
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.status, order.dispute_status) == ("paid", "restored")
    assert client.get(f"/orders/{token}/pack/flac.zip").status_code == 200
    event = audit_rows()[-1]
    assert (event.action, event.target, event.details) == ("order.restore_access", f"order:{order.id}",
                                                           {"dispute_status": "lost"})
    # Only a disputed order: nothing else changes, and the operator is told why.
    again = admin_client.post(f"/admin/orders/{order.id}/restore-access", follow_redirects=True)
    assert b"not disputed" in again.data
    assert [e.action for e in audit_rows()].count("order.restore_access") == 1
