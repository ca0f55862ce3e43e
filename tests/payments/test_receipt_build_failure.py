"""Stripe's event for an order whose receipt cannot be built (security review L9): the store
answers 200 and the order is paid, as when the mail server is down; without it, Stripe's
retry would find the order paid and no receipt would ever go out."""

from __future__ import annotations

import json

from tests.orders.test_mail_building import break_template, mend_templates
from tests.payments.conftest import events_recorded, order_now, receipts
from tests.payments.test_stripe_webhooks import paid_without_webhooks, post_event, signed  # noqa: F401 (fixture)


def test_the_event_pays_the_order_whose_receipt_cannot_be_built(app, store_server,
                                                                  paid_without_webhooks):  # noqa: F811
    order_id, event = paid_without_webhooks
    break_template(app, "orders/mail/receipt.txt")
    body = json.dumps(event).encode()

    response = post_event(store_server, body, signed(body))

    assert response.status_code == 200 and response.json()["received"] is True
    assert order_now(order_id).status == "paid" and receipts(app) == []
    [recorded] = events_recorded()
    assert recorded.processed_at is not None
    mend_templates(app)
