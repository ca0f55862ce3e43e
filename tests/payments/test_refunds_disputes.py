"""Refunds and disputes: Stripe's events (re-read from its API) revoke, keep or restore access.

Refunds are asked for through ``flask orders refund`` (and ``refund_order``, which the
command and the operator console call); nothing changes on the order until Stripe's
event arrives.
"""

from __future__ import annotations

import pytest

from shop.accounting import pack_stats
from shop.payments.refunds import RefundError, refund_order
from tests.payments.conftest import (
    DISPUTE_CARD,
    Buyer,
    Emulated,
    order_now,
    order_token,
    receipts,
    refund_notices,
)

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


@pytest.fixture
def paid(pack, buyer: Buyer, emulated: Emulated):
    """``(order_id, token, session_id)`` of an order paid through Checkout, with its link."""

    def make(card: str = "4242424242424242", amount: str = "12.00"):
        checkout = buyer.buy(pack.slug, amount)
        result = emulated.pay(checkout.session_id, card)
        assert result["paid"], result
        back = buyer.come_back(result["redirect"])
        emulated.wait()
        return checkout.order_id, order_token(back), checkout.session_id

    return make


def first_album_zip(client, pack, token: str):
    album = pack.albums[0]
    return client.get(f"/orders/{token}/albums/{album.id}/flac.zip")


def test_refund_cli_end_to_end_revokes_the_order(app, runner, client, pack, paid, emulated: Emulated):
    order_id, token, _ = paid()
    assert first_album_zip(client, pack, token).status_code == 200
    result = runner.invoke(args=["orders", "refund", f"#{order_id}", "--reason", "requested_by_customer"])
    assert result.exit_code == 0, result.output
    assert f"Asked Stripe to refund $12.00 of order #{order_id}" in result.output
    assert "succeeded" in result.output
    emulated.wait()
    order = order_now(order_id)
    assert (order.status, order.refunded_cents) == ("refunded", 1200)
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert "This order was refunded" in page and "flac.zip" not in page
    assert first_album_zip(client, pack, token).status_code == 404
    assert refund_notices(app) == [f"Your order of {pack.title} was refunded"]
    assert pack_stats(pack.id) == (0, 0, 0)
    # Stripe refused a second full refund, and said so; nothing else changed.
    again = runner.invoke(args=["orders", "refund", str(order_id)])
    assert again.exit_code == 1 and "refunded, not paid" in again.output
    emulated.wait()
    assert len(refund_notices(app)) == 1


def test_a_partial_refund_keeps_access_and_counts_net(app, runner, client, pack, paid, emulated: Emulated):
    order_id, token, _ = paid()
    result = runner.invoke(args=["orders", "refund", str(order_id), "--amount", "2.50"])
    assert result.exit_code == 0, result.output
    assert "$2.50" in result.output
    emulated.wait()
    order = order_now(order_id)
    assert (order.status, order.refunded_cents) == ("paid", 250)
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert "paid, $2.50 refunded" in page and "Your downloads stay available" in page
    assert first_album_zip(client, pack, token).status_code == 200
    assert pack_stats(pack.id) == (1, 950, 950)
    assert refund_notices(app) == []
    # The rest, later: now the order is refunded in full.
    assert runner.invoke(args=["orders", "refund", str(order_id)]).exit_code == 0
    emulated.wait()
    order = order_now(order_id)
    assert (order.status, order.refunded_cents) == ("refunded", 1200)
    assert len(refund_notices(app)) == 1


def test_refund_order_checks_before_asking_stripe(app, pack, paid, emulated: Emulated):
    order_id, _, _ = paid()
    with pytest.raises(RefundError, match="at most what is left"):
        refund_order(order_id, 1201)
    with pytest.raises(RefundError, match="reason must be one of"):
        refund_order(order_id, reason="because")
    with pytest.raises(RefundError, match="no order #999"):
        refund_order(999)
    # The same request twice before Stripe's event: one refund (the idempotency key).
    emulated.control("webhooks/delay", {"seconds": 1.5, "count": 4})
    first = refund_order(order_id, 300)
    second = refund_order(order_id, 300)
    assert first.refund_id == second.refund_id
    emulated.wait()
    assert order_now(order_id).refunded_cents == 300


def test_refund_order_of_a_test_provider_order_marks_it_refunded_at_once(app, pack):
    from tests import factories

    order, _ = factories.make_order(app, pack)
    result = refund_order(order.id)
    assert result.revoked_now and result.refund_id is None
    assert order_now(order.id).status == "refunded"


def test_refund_cli_rejects_bad_input(runner, emulated: Emulated):
    assert runner.invoke(args=["orders", "refund", "twelve"]).exit_code == 2
    assert runner.invoke(args=["orders", "refund", "12", "--amount", "-1"]).exit_code == 2
    missing = runner.invoke(args=["orders", "refund", "12"])
    assert missing.exit_code == 1 and "no order #12" in missing.output


def test_a_dispute_suspends_access_and_a_won_dispute_restores_it(app, client, pack, paid, emulated: Emulated):
    order_id, token, session_id = paid(card=DISPUTE_CARD)
    order = order_now(order_id)
    assert (order.status, order.dispute_status) == ("disputed", "open")
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert "The payment for this order is disputed" in page
    assert first_album_zip(client, pack, token).status_code == 404
    assert pack_stats(pack.id) == (0, 0, 0)
    dispute = emulated.client.v1.disputes.list(params={"charge": emulated.charge_of(session_id)}).data[0]
    emulated.control(f"disputes/{dispute.id}/close", {"outcome": "won"})
    emulated.wait()
    order = order_now(order_id)
    assert (order.status, order.dispute_status) == ("paid", "won")
    assert first_album_zip(client, pack, token).status_code == 200
    assert len(receipts(app)) == 1


def test_a_lost_dispute_keeps_access_revoked(app, client, pack, paid, emulated: Emulated):
    order_id, token, session_id = paid()
    charge = emulated.charge_of(session_id)
    dispute = emulated.control("disputes", {"charge": charge, "reason": "fraudulent"})
    emulated.wait()
    assert order_now(order_id).status == "disputed"
    emulated.control(f"disputes/{dispute['id']}/close", {"outcome": "lost"})
    emulated.wait()
    order = order_now(order_id)
    assert (order.status, order.dispute_status) == ("disputed", "lost")
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert "The card payment was reversed" in page
    assert first_album_zip(client, pack, token).status_code == 404
