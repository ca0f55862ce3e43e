"""The operator's journey through the console in a real browser.

One test, against the whole store the ``store`` fixture runs (the store served over HTTP, an
RQ worker process, Redis, the Dropbox and Stripe emulators): log in, create and schedule a
pack, upload a small album (two short FLAC masters and a cover, made here) with the page's
own upload script, watch the worker encode it on the page's polled progress, seed it to
Dropbox, put the pack on sale, refund a Stripe order (pending until Stripe's event arrives,
then refunded), retry a delivery the worker stopped for want of room in the buyer's Dropbox
and one that failed, until the worker has delivered both, and look at the workers page.
Each page is saved as a screenshot at a desktop and a phone width under
``artifacts/browser/operator/<width>/`` and fails on any console error, CSP violation or
sideways scrolling.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from shop.admin import operators
from shop.extensions import db
from shop.models import Order, Pack, utcnow
from tests.browser.conftest import ARTIFACTS, HORIZONTAL_OVERFLOW, VIEWPORTS, BrowserProblems, Store

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

OPERATOR = "ops@example.com"
PASSWORD = "a long operator password"
BUYER = "refund.me@example.com"
DROPBOX_BUYER = "retry.me@example.com"
ROOMLESS_BUYER = "no.room@example.com"
NEW_PACK = {"title": "Night Ferry", "slug": "night-ferry"}
#: Two tracks in nine encodes each, by one worker process.
ENCODE_TIMEOUT_MS = 180_000
SEED_TIMEOUT_MS = 60_000
WIDTHS = {"desktop": VIEWPORTS["desktop"]["viewport"], "phone": VIEWPORTS["phone"]["viewport"]}
FOLDER = ARTIFACTS / "operator"


class Shots:
    """A full-page screenshot of each page at each width; no browser problem and no sideways
    scrolling at either."""

    def __init__(self, page, problems: BrowserProblems) -> None:
        self.page = page
        self.problems = problems
        self.saved: list[Path] = []
        for width in WIDTHS:
            FOLDER.joinpath(width).mkdir(parents=True, exist_ok=True)
            for old in FOLDER.joinpath(width).glob("*.png"):
                old.unlink()

    def snap(self, name: str) -> None:
        for width, size in WIDTHS.items():
            self.page.set_viewport_size(size)
            self.page.wait_for_timeout(100)
            path = FOLDER / width / f"operator-{name}.png"
            self.page.screenshot(path=path, full_page=True)
            self.saved.append(path)
            overflow = self.page.evaluate(HORIZONTAL_OVERFLOW)
            assert overflow <= 0, f"{name} at {width}: the page is {overflow}px wider than the viewport"
        self.page.set_viewport_size(WIDTHS["desktop"])
        self.problems.assert_none(name)


def make_masters(folder: Path) -> list[Path]:
    from tests.catalog.audio import write_album

    album = write_album(folder / "Harbour Lights - Night Ferry", "Harbour Lights", "Night Ferry",
                        ["Departure", "Open Water"], seconds=1.0)
    return sorted(album.iterdir())


def stripe_paid_order(store: Store) -> int:
    """An order of the store's pack paid through Checkout on the Stripe emulator (as a buyer's
    browser would, without drawing it): its id."""
    web = requests.Session()
    web.trust_env = False
    page = web.get(f"{store.url}/packs/{store.pack.slug}", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    bought = web.post(f"{store.url}/packs/{store.pack.slug}/buy", timeout=10, allow_redirects=False,
                      data={"amount": "12.00", "email": BUYER, "csrf_token": token})
    assert bought.status_code == 303, bought.text
    session_id = bought.headers["Location"].rsplit("/", 1)[1]
    paid = web.post(f"{store.stripe_url}/__emulator__/checkout/sessions/{session_id}/pay",
                    json={"card": "4242424242424242"}, timeout=30).json()
    assert paid["paid"], paid
    assert web.get(paid["redirect"], timeout=10).status_code == 200
    web.post(f"{store.stripe_url}/__emulator__/webhooks/wait", json={"timeout": 20}, timeout=30)
    with store.app.app_context():
        order = db.session.scalar(db.select(Order).where(Order.email == BUYER))
        assert order is not None and order.status == "paid", order
        return order.id


def connected_order(store: Store, email: str) -> Order:
    """A paid order of the store's pack whose buyer connected Dropbox (as the OAuth callback
    stores it), bound to the caller's app context."""
    from dropbox.oauth import OAuth2FlowResult

    from shop.dropbox.connections import save_connection
    from tests import factories
    from tests.services import APP_KEY

    pack = db.session.scalar(db.select(Pack).where(Pack.slug == store.pack.slug))
    order, _ = factories.make_order(store.app, pack, email=email)
    issued = store.emulator.issue_tokens(APP_KEY, email)
    save_connection(order, OAuth2FlowResult(
        access_token=issued.access_token, account_id=issued.account_id, user_id="1", url_state=None,
        refresh_token=issued.refresh_token, expires_in=4 * 3600, scope=None))
    return order


def delivery_without_room(store: Store) -> int:
    """An album delivery into a Dropbox with no room left (the emulator's space control), put on
    the queue: the worker stops it as ``needs_space``. Its id."""
    from shop.dropbox.deliveries import create_delivery, enqueue_delivery
    from shop.dropbox.models import delivery_target

    with store.app.app_context():
        order = connected_order(store, ROOMLESS_BUYER)
        store.emulator.set_space_allocation(ROOMLESS_BUYER, 1024)
        delivery, _ = create_delivery(order, delivery_target(store.pack.albums[0].id), "flac")
        assert enqueue_delivery(delivery)
        return delivery.id


def failed_delivery(store: Store) -> int:
    """A delivery of the first album as a worker leaves one that failed (every file failed with
    Dropbox's 500, the reason recorded): its id. Made in the database: the worker's own retries
    of a 500 back off for most of a minute per file before it gives up."""
    from shop.dropbox.deliveries import create_delivery
    from shop.dropbox.models import DeliveryStatus, FileStatus, delivery_target

    with store.app.app_context():
        order = connected_order(store, DROPBOX_BUYER)
        delivery, _ = create_delivery(order, delivery_target(store.pack.albums[0].id), "flac")
        error = "Internal Server Error (injected by dropbox_emulator)"
        for file in delivery.files:
            file.status, file.error = FileStatus.FAILED.value, error
        delivery.status = DeliveryStatus.FAILED.value
        delivery.error = (f"{len(delivery.files)} of {len(delivery.files)} files could not be copied ({error}). "
                          "Press retry to try them again.")
        delivery.finished_at = utcnow()
        db.session.commit()
        return delivery.id


def local(delta: timedelta) -> str:
    return (utcnow() + delta).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("viewport", ["desktop"])
def test_operator_journey(viewport: str, page, problems: BrowserProblems, store: Store, tmp_path: Path) -> None:
    started = time.monotonic()
    with store.app.app_context():
        operators.create(OPERATOR, PASSWORD)
    shots = Shots(page, problems)
    page.on("dialog", lambda dialog: dialog.accept())  # the console's "are you sure?" questions

    # Log in: any console page sends there first, and back after.
    page.goto(f"{store.url}/admin/packs")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    shots.snap("01-login")
    page.get_by_label("E-mail").fill(OPERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Packs")).to_be_visible()
    shots.snap("02-packs")

    # Create and schedule a pack; a mistake first (the minimum above the suggested price).
    page.get_by_role("link", name="New pack", exact=True).click()
    page.get_by_label("Title").fill(NEW_PACK["title"])
    page.get_by_label("Slug (in the pack's address)").fill(NEW_PACK["slug"])
    page.get_by_label("Blurb").fill("Two songs for a crossing at night.")
    page.get_by_label("On sale from (UTC)").fill(local(timedelta(days=2)))
    page.get_by_label("Until (UTC)").fill(local(timedelta(days=16)))
    page.get_by_label("Minimum price").fill("5.00")
    page.get_by_label("Suggested price").fill("4.00")
    problems.allow_status(f"{store.url}/admin/packs/new", 400)
    page.get_by_role("button", name="Create the pack").click()
    expect(page.locator("#f-suggested_price-error")).to_contain_text("is below the minimum")
    shots.snap("03-new-pack-error")
    page.get_by_label("Suggested price").fill("8.00")
    page.get_by_role("button", name="Create the pack").click()
    expect(page.get_by_role("heading", level=1, name=NEW_PACK["title"])).to_be_visible()
    expect(page.locator("#pack-state")).to_have_text("scheduled")
    expect(page.locator("#missing")).to_contain_text("no albums yet")
    expect(page.get_by_role("button", name="Put on sale now")).to_be_disabled()
    shots.snap("04-pack-created")

    # Upload an album: two FLAC masters and a cover, through the page's XHR upload.
    page.locator("#upload-files").set_input_files([str(p) for p in make_masters(tmp_path)])
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#upload-status")).to_contain_text("Imported:", timeout=60_000)
    expect(page.locator("#upload-status")).to_contain_text("2 track(s) queued for encoding")
    bar = page.locator("#upload-progress")
    assert bar.evaluate("(bar) => bar.value === bar.max && bar.max > 0")
    expect(page.locator("tr[data-album]")).to_have_count(1)
    shots.snap("05-uploaded")

    # The worker encodes it; the page polls its progress until the album is encoded.
    album = page.locator("tr[data-album]")
    expect(album).to_have_attribute("data-state", re.compile(r"^(encoded|ready)$"), timeout=ENCODE_TIMEOUT_MS)
    expect(album).to_contain_text("18/18 files")
    expect(page.locator("#missing")).to_contain_text("not seeded to the store's Dropbox")
    shots.snap("06-encoded")

    # Seed to Dropbox (a job on the worker), then put the pack on sale.
    page.get_by_role("button", name="Seed to Dropbox").click()
    expect(page.locator(".flash")).to_contain_text("Seeding to Dropbox started.")
    expect(page.locator("#missing")).to_contain_text("Everything is ready", timeout=SEED_TIMEOUT_MS)
    expect(album).to_have_attribute("data-state", "ready")
    shots.snap("07-seeded")
    page.get_by_role("button", name="Put on sale now").click()
    expect(page.locator(".flash")).to_contain_text(f"{NEW_PACK['title']} is on sale until")
    expect(page.locator("#pack-state")).to_have_text("on sale")
    shots.snap("08-on-sale")
    with store.app.app_context():
        pack = db.session.scalar(db.select(Pack).where(Pack.slug == NEW_PACK["slug"]))
        assert pack.is_on_sale()
    assert requests.get(f"{store.url}/packs/{NEW_PACK['slug']}", timeout=10).status_code == 200

    # Refund a Stripe order: Stripe takes the request; the order turns refunded with its event.
    order_id = stripe_paid_order(store)
    page.get_by_role("link", name="Orders").click()
    page.get_by_label(re.compile(r"^E-mail, order number")).fill(BUYER)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=f"#{order_id}").click()
    expect(page.locator("#order-status")).to_have_text("paid")
    shots.snap("09-order")
    page.get_by_label(re.compile(r"^Reason")).select_option("requested_by_customer")
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Stripe accepted the refund of $12.00")
    shots.snap("10-refund-asked")
    for _ in range(40):
        if page.locator("#order-status").text_content() == "refunded":
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("#order-status")).to_have_text("refunded")
    expect(page.locator("#refunded")).to_contain_text("$12.00 of $12.00")
    shots.snap("11-refunded")

    # Dropbox deliveries that stopped: one the worker parked for want of space (the emulator's
    # space control), one that failed. Retried from the deliveries page; the worker delivers both.
    roomless_id = delivery_without_room(store)
    failed_id = failed_delivery(store)
    page.get_by_role("link", name="Deliveries").click()
    for _ in range(40):
        if _delivery_status(store, roomless_id) == "needs_space":
            break
        page.wait_for_timeout(250)
    page.reload()
    roomless = page.locator(f'tr[data-delivery="{roomless_id}"]')
    expect(roomless).to_have_attribute("data-status", "needs_space")
    expect(roomless).to_contain_text("Your Dropbox is full")
    failed = page.locator(f'tr[data-delivery="{failed_id}"]')
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed).to_contain_text("Press retry")
    shots.snap("12-deliveries-stopped")
    store.emulator.set_space_allocation(ROOMLESS_BUYER, 2**40)  # the buyer made room
    roomless.get_by_role("button", name=f"Retry delivery #{roomless_id}").click()
    expect(page.locator(".flash")).to_contain_text(f"Delivery #{roomless_id} is queued again.")
    page.get_by_role("button", name="Retry all failed").click()
    expect(page.locator(".flash")).to_contain_text("1 failed deliveries queued again.")
    for _ in range(60):
        if {_delivery_status(store, roomless_id), _delivery_status(store, failed_id)} == {"done"}:
            break
        page.wait_for_timeout(500)
    page.reload()
    assert _delivery_status(store, roomless_id) == _delivery_status(store, failed_id) == "done"
    expect(page.locator("tr[data-delivery]")).to_have_count(0)
    tracks = len(store.pack.albums[0].tracks)
    for email in (ROOMLESS_BUYER, DROPBOX_BUYER):
        assert len([p for p in store.dropbox_files(email) if p.endswith(".flac")]) == tracks, email
    shots.snap("13-deliveries-retried")

    # The workers page: the queues, the live worker's heartbeat, the store's Dropbox.
    page.get_by_role("link", name="Workers").click()
    expect(page.locator("#queues")).to_contain_text("encoding")
    expect(page.locator("#workers tbody tr")).to_have_count(1)
    expect(page.locator("#dropbox-link")).to_contain_text("Linked as")
    shots.snap("14-workers")

    page.get_by_role("link", name="Audit log").click()
    for action in ("pack.create", "pack.upload", "pack.seed", "pack.put_on_sale", "order.refund", "delivery.retry",
                   "delivery.retry_all_failed"):
        expect(page.get_by_text(action, exact=True).first).to_be_visible()
    shots.snap("15-audit")
    assert len(shots.saved) == 2 * 15
    print(f"operator journey: {time.monotonic() - started:.1f} s")


def _delivery_status(store: Store, delivery_id: int) -> str:
    from shop.dropbox.models import Delivery

    with store.app.app_context():
        status = db.session.scalar(db.select(Delivery.status).where(Delivery.id == delivery_id))
        db.session.remove()
        return str(status)
