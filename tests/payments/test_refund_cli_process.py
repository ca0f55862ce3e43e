"""``flask orders refund`` as an operator runs it next to ``make run``: a separate process
with the store's settings in its environment. CLI → Stripe emulator → signed webhook →
the served store revokes the order within seconds."""

from __future__ import annotations

import subprocess
import sys

from tests.payments.conftest import Buyer, Emulated, order_now, order_token, stripe_command_env
from tests.services import ROOT, wait_until


def test_the_refund_command_in_its_own_process_revokes_the_order_within_seconds(app, client, pack, buyer: Buyer,
                                                                                emulated: Emulated):
    checkout = buyer.buy(pack.slug, "12.00")
    token = order_token(buyer.come_back(emulated.pay(checkout.session_id)["redirect"]))
    emulated.wait()
    env = stripe_command_env(app.config)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "shop", "orders", "refund", f"#{checkout.order_id}"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"of order #{checkout.order_id}" in done.stdout
    # Within seconds of the command's exit (its own start-up time depends on the machine's load).
    assert wait_until(lambda: order_now(checkout.order_id).status == "refunded", timeout=10)
    assert "This order was refunded" in client.get(f"/orders/{token}").get_data(as_text=True)
