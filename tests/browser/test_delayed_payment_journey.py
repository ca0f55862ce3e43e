"""Paying by SEPA Debit and with a 3-D Secure card on the Stripe emulator's page, in a real browser.

SEPA Debit (euros only, Stripe's test IBANs): the order page says the payment is on its way,
then, once the debit settles (the emulator's delay, a few seconds), paid with exactly one
receipt; the failing IBAN leaves the order unpaid and mails the buyer a way to pay again. The
3-D Secure test card passes through the authentication step to a paid order.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest

from shop.extensions import db
from shop.models import Pack
from tests.browser.conftest import BrowserProblems, Store

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

BUYER_EMAIL = "sepa.buyer@example.com"
GOOD_IBAN = "DE89370400440532013000"
FAILING_IBAN = "DE62370400440532013001"
THREE_D_SECURE_CARD = "4000 0027 6000 3184"
ORDER_PAGE = re.compile(r"/orders/[A-Za-z0-9_-]{43}$")
SETTLE_TRIES = 60  # reloads half a second apart: the emulator settles a debit after a few seconds


def subjects(store: Store) -> list[str]:
    found = []
    for path in sorted(Path(store.app.config["OUTBOX_DIR"]).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append(str(message["Subject"]))
    return found


def receipts(store: Store) -> int:
    return sum(1 for s in subjects(store) if s == f"Your music from {store.pack.title}")


def sell_in(store: Store, currency: str) -> None:
    with store.app.app_context():
        pack = db.session.scalar(db.select(Pack).where(Pack.slug == store.pack.slug))
        assert pack is not None
        pack.currency = currency
        db.session.commit()
        db.session.remove()


def buy(page, store: Store, problems: BrowserProblems) -> None:
    problems.allow_pages_of(store.stripe_url)
    page.goto(f"{store.url}/packs/{store.pack.slug}")
    page.get_by_label("E-mail for your download link").fill(BUYER_EMAIL)
    page.get_by_role("button", name="Buy the pack").click()
    expect(page).to_have_url(re.compile(re.escape(store.stripe_url) + r"/c/pay/cs_test_\w+$"))


def debit(page, iban: str) -> None:
    page.get_by_label("Account holder").fill("Ada Buyer")
    page.get_by_label("IBAN").fill(iban)
    page.get_by_role("button", name=re.compile(r"^Debit ")).click()
    expect(page).to_have_url(ORDER_PAGE)


def wait_for_state(page, state: str) -> None:
    for _ in range(SETTLE_TRIES):
        page.reload()
        if page.locator(f'.payment-state[data-state="{state}"]').count():
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"the order page never said {state}")


@pytest.mark.parametrize("viewport", ["desktop"])
def test_sepa_debit_is_processing_then_paid_with_one_receipt(viewport: str, page, problems: BrowserProblems,
                                                             store: Store) -> None:
    sell_in(store, "EUR")
    buy(page, store, problems)
    debit(page, GOOD_IBAN)
    state = page.locator(".payment-state")
    expect(state).to_have_attribute("data-state", "processing")
    expect(page.get_by_role("heading", name="Your payment is on its way")).to_be_visible()
    expect(page.get_by_text("There is no need to pay again").first).to_be_visible()
    assert page.get_by_role("link", name="Download the pack").count() == 0
    assert receipts(store) == 0 and store.orders()[-1][1] == "processing"
    wait_for_state(page, "paid")
    expect(page.get_by_role("link", name="Download the pack")).to_be_visible()
    assert store.orders()[-1][1] == "paid" and receipts(store) == 1
    problems.assert_none("after the debit settled")


@pytest.mark.parametrize("viewport", ["desktop"])
def test_a_failing_iban_leaves_the_order_unpaid_and_mails_the_buyer(viewport: str, page, problems: BrowserProblems,
                                                                    store: Store) -> None:
    sell_in(store, "EUR")
    buy(page, store, problems)
    debit(page, FAILING_IBAN)
    expect(page.locator(".payment-state")).to_have_attribute("data-state", "processing")
    wait_for_state(page, "pending")
    expect(page.get_by_role("heading", name="Waiting for your payment")).to_be_visible()
    assert store.orders()[-1][1] == "pending" and receipts(store) == 0
    assert subjects(store).count(f"Your payment for {store.pack.title} did not go through") == 1
    problems.assert_none("after the debit failed")


@pytest.mark.parametrize("viewport", ["desktop"])
def test_a_3d_secure_card_passes_the_authentication_step(viewport: str, page, problems: BrowserProblems,
                                                         store: Store) -> None:
    buy(page, store, problems)
    page.get_by_label("Card number").fill(THREE_D_SECURE_CARD)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page).to_have_url(re.compile(re.escape(store.stripe_url) + r"/c/authenticate/cs_test_\w+$"))
    page.get_by_role("button", name="Complete authentication").click()
    expect(page).to_have_url(ORDER_PAGE)
    expect(page.locator(".payment-state")).to_have_attribute("data-state", "paid")
    assert store.orders()[-1][1] == "paid" and receipts(store) == 1
    problems.assert_none("after authenticating")
