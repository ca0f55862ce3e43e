"""The console finds an order by the id of the Stripe charge that paid it, asking Stripe
(the store keeps the session and PaymentIntent ids, not the charge's)."""

from __future__ import annotations

from shop.admin import orders as admin_orders
from shop.payments import lookup
from tests.payments.conftest import Buyer, Emulated
from tests.services import free_port


def test_a_charge_id_finds_its_order(app, pack, buyer: Buyer, emulated: Emulated):
    checkout = buyer.buy(pack.slug, "12.00")
    result = emulated.pay(checkout.session_id)
    assert result["paid"], result
    buyer.come_back(result["redirect"])
    emulated.wait()
    other = buyer.buy(pack.slug, "15.00")  # pending, no charge
    charge = emulated.charge_of(checkout.session_id)
    assert charge.startswith("ch_")

    assert [o.id for o in admin_orders.search(charge).orders] == [checkout.order_id]
    assert admin_orders.search(charge).notice is None
    # Stripe knows no such charge: nothing found, nothing said.
    assert admin_orders.search("ch_unknown000000").orders == []
    assert admin_orders.search("ch_unknown000000").notice is None
    # A string that is not a charge id is never sent to Stripe.
    assert lookup.order_id_for_charge("ch_../../v1/customers") is None
    assert other.order_id not in [o.id for o in admin_orders.search(charge).orders]


def test_stripe_down_is_said_not_a_500(app, pack):
    app.config["STRIPE_API_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    found = admin_orders.search("ch_3AbCdEfGhIjK")
    assert found.orders == [] and "Stripe could not be asked about charge ch_3AbCdEfGhIjK" in found.notice
