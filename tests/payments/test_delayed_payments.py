"""Delayed payment methods (SEPA Debit on the emulator's page, Stripe's test IBANs): the order is
"processing" while the debit is on its way, paid once when it settles, and pending again (the
buyer mailed a way to pay again) when it fails."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from shop.extensions import db
from tests.payments.conftest import Buyer, Emulated, mail_subjects, order_now, order_token, receipts

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

GOOD_IBAN = "DE89370400440532013000"
FAILING_IBAN = "DE62370400440532013001"
DELAY = 60  # emulator seconds; the store's own clock does not move, so keep them close


@pytest.fixture
def euro_pack(pack, emulated: Emulated):
    """SEPA Debit takes euros only; the debit settles a minute later on the emulator's clock."""
    pack.currency = "EUR"
    db.session.commit()
    emulated.control("async_delay", {"seconds": DELAY})
    return pack


def pay_by_iban(emulated: Emulated, session_id: str, iban: str) -> dict:
    result = emulated.control(f"checkout/sessions/{session_id}/pay", {"iban": iban, "name": "Ada B"})
    assert result["status"] == "processing" and result["redirect"], result
    emulated.wait()
    return result


def album_zip(client, pack, token: str):
    return client.get(f"/orders/{token}/albums/{pack.albums[0].id}/flac.zip")


def mail_body(app, subject: str) -> str:
    for path in sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["Subject"]) == subject:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            return str(body.get_content())
    raise AssertionError(f"no mail {subject!r}")


def test_a_debit_on_its_way_is_processing_then_paid_once(app, euro_pack, buyer: Buyer, emulated: Emulated):
    checkout = buyer.buy(euro_pack.slug, "12.00")
    result = pay_by_iban(emulated, checkout.session_id, GOOD_IBAN)
    back = buyer.come_back(result["redirect"])
    assert back.status_code == 303
    token = order_token(back)
    page = buyer.client.get(f"/orders/{token}").get_data(as_text=True)
    assert "Payment: <strong>processing</strong>" in page and "Your payment is on its way" in page
    assert "There is no need to pay again" in page and "You have not been charged" not in page
    order = order_now(checkout.order_id)
    assert order.status == "processing" and order.paid_at is None
    assert receipts(app) == [] and album_zip(buyer.client, euro_pack, token).status_code == 404
    # The debit settles: checkout.session.async_payment_succeeded pays the order, once.
    emulated.advance(DELAY)
    emulated.wait()
    order = order_now(checkout.order_id)
    assert (order.status, order.amount_cents, order.currency) == ("paid", 1200, "EUR")
    assert len(receipts(app)) == 1
    assert album_zip(buyer.client, euro_pack, token).status_code == 200
    assert "Payment: <strong>paid</strong>" in buyer.client.get(f"/orders/{token}").get_data(as_text=True)
    # The return again, or the events again, change nothing.
    assert buyer.come_back(result["redirect"]).status_code == 303
    emulated.advance(DELAY)
    emulated.wait()
    assert len(receipts(app)) == 1
    types = [d["type"] for d in emulated.deliveries()]
    assert "checkout.session.async_payment_succeeded" in types


def test_a_failed_debit_leaves_the_order_unpaid_and_mails_a_way_to_pay_again(app, euro_pack, buyer: Buyer,
                                                                             emulated: Emulated):
    checkout = buyer.buy(euro_pack.slug, "12.00")
    pay_by_iban(emulated, checkout.session_id, FAILING_IBAN)
    assert order_now(checkout.order_id).status == "processing"
    emulated.advance(DELAY)
    emulated.wait()
    order = order_now(checkout.order_id)
    assert (order.status, order.payment_intent_id, order.paid_at) == ("pending", None, None)
    assert receipts(app) == []
    subject = f"Your payment for {euro_pack.title} did not go through"
    assert mail_subjects(app).count(subject) == 1
    assert f"{app.config['BASE_URL']}/packs/{euro_pack.slug}" in mail_body(app, subject)
    # The event again mails nothing more; buying again pays the same order by card.
    emulated.advance(DELAY)
    emulated.wait()
    assert mail_subjects(app).count(subject) == 1
    retry = buyer.buy(euro_pack.slug, "12.00")
    assert retry.order_id == checkout.order_id and retry.session_id != checkout.session_id
    assert emulated.pay(retry.session_id)["paid"]
    emulated.wait()
    assert order_now(checkout.order_id).status == "paid" and len(receipts(app)) == 1
