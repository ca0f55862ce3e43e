"""What the audit log holds whatever the entry point (review finding L6): exports of buyer
data, refunds and operator changes from the command line. (Refused logins, counted rather
than written one row each, are in test_login_throttling.py.)"""

from __future__ import annotations

from sqlalchemy import select

from shop.extensions import db
from shop.models import Order
from tests import factories
from tests.admin.conftest import PASSWORD, audit_rows


def test_the_orders_csv_export_is_audited_with_its_row_count(app, operator, admin_client, pack):
    factories.make_order(app, pack, email="a@example.com")
    factories.make_order(app, pack, email="b@example.com")
    assert admin_client.get(f"/admin/packs/{pack.id}/orders.csv").status_code == 200
    row = audit_rows()[-1]
    assert (row.action, row.target, row.details, row.operator_id) == (
        "pack.orders_csv", f"pack:{pack.id}", {"rows": 2}, operator.id)
    assert row.ip == "127.0.0.1"


def test_operator_commands_are_audited_with_the_os_user(app, runner):
    email = "new.op@example.com"
    steps = [
        (["operators", "create", email], PASSWORD + "\n", "operator.create"),
        (["operators", "password", email], "another long password\n", "operator.password"),
        (["operators", "totp", email], None, "operator.totp.enable"),
        (["operators", "totp", email, "--disable"], None, "operator.totp.disable"),
        (["operators", "disable", email], None, "operator.disable"),
        (["operators", "disable", email, "--enable"], None, "operator.enable"),
        (["operators", "unlock", email], None, "operator.unlock"),
    ]
    for args, given, _ in steps:
        result = runner.invoke(args=args, input=given)
        assert result.exit_code == 0, (args, result.output)
    rows = audit_rows()
    assert [r.action for r in rows] == [action for *_, action in steps]
    assert all(r.operator_id is None and r.target == email and r.details["cli_user"] for r in rows)
    # Secrets stay out of the log.
    assert not any(PASSWORD in str(r.details) or "another long password" in str(r.details) for r in rows)
    assert runner.invoke(args=["operators", "create", "ops@example.com"], input=PASSWORD + "\n").exit_code == 0
    client = app.test_client()
    client.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD})
    page = client.get("/admin/audit").get_data(as_text=True)
    assert f"command line ({rows[0].details['cli_user']})" in page and "operator.totp.enable" in page


def test_a_refused_operator_command_writes_nothing(app, runner):
    assert runner.invoke(args=["operators", "disable", "nobody@example.com"]).exit_code != 0
    assert runner.invoke(args=["operators", "create", "x@example.com"], input="short\n").exit_code != 0
    assert audit_rows() == []


def test_a_cli_refund_is_audited(app, runner, pack):
    order, _ = factories.make_order(app, pack)
    result = runner.invoke(args=["orders", "refund", f"#{order.id}"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Order.status).where(Order.id == order.id)) == "refunded"
    row = audit_rows()[-1]
    assert (row.action, row.target, row.operator_id) == ("order.refund", f"order:{order.id}", None)
    assert row.details["refunded_cents"] == 1000 and row.details["revoked_now"] is True and row.details["cli_user"]


def test_a_refused_cli_refund_is_audited_too(app, runner, pack):
    order, _ = factories.make_order(app, pack, paid=False)
    result = runner.invoke(args=["orders", "refund", str(order.id)])
    assert result.exit_code == 1
    row = audit_rows()[-1]
    assert (row.action, row.target) == ("order.refund.refused", f"order:{order.id}") and row.details["error"]
