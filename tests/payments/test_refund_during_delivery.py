"""A refund through Stripe stops a Dropbox delivery that a worker process is running.

The Dropbox side is the one ``tests/dropbox`` uses (emulator over HTTP, private Redis, a
real RQ worker process); the refund goes CLI → Stripe emulator → signed webhook → store.
"""

from __future__ import annotations

import time

import pytest

from shop.extensions import db
from shop.models import Order
from tests.dropbox.conftest import (  # noqa: F401 (fixtures)
    APP_KEY,
    APP_SECRET,
    STORE_EMAIL,
    connect_buyer,
    done_count,
    emulator,
    emulator_server,
    fresh,
    seeded_pack,
)
from tests.payments.conftest import BUYER, Buyer, Emulated, order_now, order_token
from tests.services import wait_until


@pytest.fixture
def app_overrides(stripe_overrides, emulator_server, redis_server):  # noqa: F811
    import redis
    from cryptography.fernet import Fernet

    redis.Redis.from_url(redis_server.url).flushdb()
    server, dropbox = emulator_server
    return {
        **stripe_overrides,
        "DROPBOX_APP_KEY": APP_KEY,
        "DROPBOX_APP_SECRET": APP_SECRET,
        "DROPBOX_API_URL": server.base_url,
        "DROPBOX_STORE_REFRESH_TOKEN": dropbox.issue_tokens(APP_KEY, STORE_EMAIL).refresh_token,
        "TOKEN_KEYS": Fernet.generate_key().decode(),
        "REDIS_URL": redis_server.url,
    }


def test_a_refund_stops_a_running_delivery_before_its_next_file(app, client, runner, seeded_pack,  # noqa: F811
                                                                emulator, start_worker,  # noqa: F811
                                                                buyer: Buyer, emulated: Emulated):
    checkout = buyer.buy(seeded_pack.slug, "12.00")
    token = order_token(buyer.come_back(emulated.pay(checkout.session_id)["redirect"]))
    connect_buyer(db.session.get(Order, checkout.order_id), emulator)
    clicked = client.post(f"/orders/{token}/dropbox/pack", data={"format": "flac"},
                          headers={"Accept": "application/json"})
    assert clicked.status_code in (200, 202), clicked.get_data(as_text=True)
    delivery_id = clicked.json["id"]
    total = len(fresh(delivery_id).files)
    # A file of the buyer's in each folder refuses the folder fast path: file by file, slowly.
    for path in sorted({f.folder for f in fresh(delivery_id).files}):
        emulator.seed_file(BUYER, APP_KEY, f"{path}/notes.txt", b"mine")
    emulator.set_latency(700, route="files/copy_reference/save")
    start_worker()
    assert wait_until(lambda: done_count(delivery_id) >= 1, timeout=60)

    result = runner.invoke(args=["orders", "refund", str(checkout.order_id)])
    assert result.exit_code == 0, result.output
    emulated.wait()
    assert order_now(checkout.order_id).status == "refunded"
    assert wait_until(lambda: fresh(delivery_id).worker is None, timeout=30)
    time.sleep(2)  # a worker that did not stop would land more files meanwhile
    delivery = fresh(delivery_id)
    assert delivery.status == "cancelled" and "refunded" in (delivery.error or "")
    landed = [f for f in emulator.list_files(BUYER, APP_KEY) if not f["path_display"].endswith(".txt")]
    assert 1 <= len(landed) < total
