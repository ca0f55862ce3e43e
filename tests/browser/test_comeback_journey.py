"""Gifts and download codes in a real browser, at a desktop and a phone viewport.

A buyer gives the pack for tomorrow (the gift fields of the buy form, Stripe's payment page)
and lands on the gift's page, not on the music; the clock moves on (the gift's delivery time
is put in the past, as the tests may set the clock); the worker's sweep mails the recipient,
whose link opens their order page. Then a code from a batch is redeemed on ``/redeem``.
Screenshots of every step go to ``artifacts/browser/comeback/<viewport>/``.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shop.codes.batches import create_batch, export_rows
from shop.extensions import db
from shop.gifts.models import Gift
from shop.models import Pack, utcnow
from tests.browser.conftest import ARTIFACTS, VIEWPORTS, BrowserProblems, Steps, Store
from tests.services import wait_until

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

GIVER = "giver@example.com"
FRIEND = "a.friend.with.a.long.address@example.com"


def outbox_to(store: Store, address: str) -> list[email.message.EmailMessage]:
    folder = Path(store.app.config["OUTBOX_DIR"])
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["To"]) == address:
            found.append(message)
    return found


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_gift_for_tomorrow_and_a_redeemed_code(viewport: str, page, problems: BrowserProblems, store: Store):
    folder = ARTIFACTS / "comeback" / viewport
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    steps = Steps(page, folder, problems)
    pack = store.pack
    problems.allow_pages_of(store.stripe_url)

    page.goto(f"{store.url}/packs/{pack.slug}")
    expect(page.get_by_role("textbox", name="Tell me about the next pack")).to_be_visible()
    page.get_by_label("Your price").fill("15.00")
    page.get_by_label("E-mail for your download link").fill(GIVER)
    page.locator("summary", has_text="This is a gift").click()
    page.get_by_label("Send the music to someone else").check()
    page.get_by_label("Their e-mail").fill(FRIEND)
    page.get_by_label("Message (optional, plain text)").fill("Happy birthday!\nPlay it loud.")
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    page.locator("#send_on").fill(tomorrow)
    steps.snap("01-gift-form")
    page.get_by_role("button", name="Buy the pack").click()
    expect(page).to_have_url(re.compile(re.escape(store.stripe_url) + r"/c/pay/cs_test_\w+$"))
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()

    # The giver lands on the gift's page: scheduled, no music.
    expect(page).to_have_url(re.compile(r"/gifts/[^/]+$"))
    expect(page.locator("[data-gift-state=scheduled]")).to_be_visible()
    assert outbox_to(store, FRIEND) == []
    steps.snap("02-gift-scheduled")

    # Tomorrow comes; the worker's sweep sends the recipient their own link.
    with store.app.app_context():
        db.session.execute(update(Gift).values(deliver_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        db.session.remove()
    assert wait_until(lambda: len(outbox_to(store, FRIEND)) == 1, timeout=60)
    text = outbox_to(store, FRIEND)[0].get_body(("plain",)).get_content()
    assert "Play it loud." in text
    link = re.search(r"(http://127\.0\.0\.1:\d+/orders/[A-Za-z0-9_-]{43})", text).group(1)
    page.goto(link)
    expect(page.get_by_role("heading", level=1, name=pack.title)).to_be_visible()
    steps.snap("03-recipient-order")

    # A code from a batch, redeemed.
    with store.app.app_context():
        pack_row = db.session.scalar(select(Pack).where(Pack.slug == pack.slug))
        batch = create_batch(pack_row, 2, label="browser")
        db.session.commit()
        code = list(export_rows(batch))[1].split(",")[0]
        db.session.remove()
    page.goto(f"{store.url}/")
    page.get_by_role("link", name="Redeem a download code").click()
    page.get_by_label("Code").fill("WXYZ-WXYZ-WXYZ")
    page.get_by_label("E-mail address").fill("fan@example.com")
    problems.allow_status(f"{store.url}/redeem", 400)
    page.get_by_role("button", name="Get my music").click()
    expect(page.get_by_text("That code does not open anything")).to_be_visible()
    steps.snap("04-redeem-wrong-code")
    page.get_by_label("Code").fill(code.lower())
    page.get_by_role("button", name="Get my music").click()
    expect(page).to_have_url(re.compile(r"/orders/[A-Za-z0-9_-]{43}$"))
    expect(page.get_by_role("heading", level=1, name=pack.title)).to_be_visible()
    steps.snap("05-code-order")
