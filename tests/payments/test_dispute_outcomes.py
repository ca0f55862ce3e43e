"""Review 2026-12 L11: every way a dispute can end. An inquiry that closes (``warning_closed``),
a won dispute and a prevented one (which never withdraws funds) give the buyer's access back;
an operator's restore stands whatever that dispute does next. The emulator has no inquiries
yet, so the store's dispute step is driven with Stripe's documented statuses."""

from __future__ import annotations

import pytest

from shop.payments.stripe_events import _sync_dispute
from tests import factories
from tests.payments.conftest import order_now

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


@pytest.mark.parametrize(("opened", "ended", "dispute_status"), [
    ("warning_needs_response", "warning_closed", "closed"),
    ("warning_under_review", "warning_closed", "closed"),
    ("needs_response", "won", "won"),
    ("warning_needs_response", "prevented", "prevented"),
])
def test_a_dispute_that_ends_without_a_chargeback_restores_access(app, client, pack, opened, ended, dispute_status):
    order, token = factories.make_order(app, pack)
    _sync_dispute(order_now(order.id), opened)
    assert (order_now(order.id).status, order_now(order.id).dispute_status) == ("disputed", "open")
    assert client.get(f"/orders/{token}/pack/flac.zip").status_code == 404
    _sync_dispute(order_now(order.id), ended)
    order = order_now(order.id)
    assert (order.status, order.dispute_status) == ("paid", dispute_status)
    assert client.get(f"/orders/{token}/pack/flac.zip").status_code == 200


def test_a_prevented_dispute_never_suspends_a_paid_order(app, client, pack):
    order, token = factories.make_order(app, pack)
    _sync_dispute(order_now(order.id), "prevented")
    order = order_now(order.id)
    assert (order.status, order.dispute_status) == ("paid", "prevented")
    assert client.get(f"/orders/{token}/pack/flac.zip").status_code == 200


def test_a_lost_dispute_keeps_access_closed(app, pack):
    order, _ = factories.make_order(app, pack)
    _sync_dispute(order_now(order.id), "needs_response")
    _sync_dispute(order_now(order.id), "lost")
    assert (order_now(order.id).status, order_now(order.id).dispute_status) == ("disputed", "lost")


def test_an_operator_s_restore_stands_whatever_the_dispute_does_next(app, pack):
    from shop.admin import orders as admin_orders
    from shop.admin.operators import create

    order, _ = factories.make_order(app, pack)
    _sync_dispute(order_now(order.id), "needs_response")
    admin_orders.restore_access(order_now(order.id), create("ops@example.com", "correct horse battery"), None)
    for later in ("under_review", "lost"):
        _sync_dispute(order_now(order.id), later)
        assert (order_now(order.id).status, order_now(order.id).dispute_status) == ("paid", "restored")


# -- the same on the emulator's dispute lifecycle, end to end ---------------------------------


@pytest.fixture
def paid_by_card(pack, buyer, emulated):
    """``(order_id, charge_id)`` of an order paid through Checkout."""
    checkout = buyer.buy(pack.slug, "12.00")
    assert emulated.pay(checkout.session_id)["paid"]
    emulated.wait()
    return checkout.order_id, emulated.charge_of(checkout.session_id)


def test_an_inquiry_that_closes_gives_access_back(app, paid_by_card, emulated):
    order_id, charge = paid_by_card
    inquiry = emulated.control("disputes", {"charge": charge, "status": "warning_needs_response"})
    emulated.wait()
    assert (order_now(order_id).status, order_now(order_id).dispute_status) == ("disputed", "open")
    emulated.control(f"disputes/{inquiry['id']}/close", {"outcome": "warning_closed"})
    emulated.wait()
    assert (order_now(order_id).status, order_now(order_id).dispute_status) == ("paid", "closed")


def test_a_prevented_dispute_leaves_the_order_paid(app, paid_by_card, emulated):
    order_id, charge = paid_by_card
    emulated.control("disputes", {"charge": charge, "status": "prevented"})
    emulated.wait()
    assert (order_now(order_id).status, order_now(order_id).dispute_status) == ("paid", "prevented")
