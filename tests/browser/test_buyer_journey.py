"""The buyer's journey in a real browser, from the store's front page to files in Dropbox.

One test walks it all, at a desktop and at a phone viewport: the pack page (covers decode,
previews exist), a price below the minimum (a form error, no order), paying what you want,
Stripe's payment page (the Stripe emulator): Cancel back to the pack page with the price and
address kept, a declined card, then a card that pays, the order page, an album zip
downloaded through its link and checked byte for byte, Dropbox connected on the emulator's
consent page, the album added, the progress bar polled to Done by the page's own script,
and the files seen in the emulated Dropbox's web view. Every step leaves a screenshot in
``artifacts/browser/<viewport>/`` and fails on any console error, uncaught exception or CSP
violation.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest

from tests.browser.conftest import APP_NAME, VIEWPORTS, AlbumInfo, BrowserProblems, Steps, Store

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

# Long, as real addresses can be: it must wrap, not push the page sideways on a phone.
BUYER_EMAIL = "listener.with.a.rather.long.address@example.com"
ZIP_FORMAT = "flac"
DROPBOX_FORMAT = "flac"
DROPBOX_LABEL = "FLAC"  # how the page names it ("Add to Dropbox as FLAC")
#: A delivery slow enough that the page is seen polling before it is done.
COPY_LATENCY_MS = 1200
DELIVERY_TIMEOUT_MS = 30_000
MEMBER_NAME = re.compile(r"^[^/]+ - [^/]+ \((MP3|FLAC|WAV)\)/\d{2,} [^/]+\.(mp3|flac|wav)$")

ALL_COVERS_DECODED = """
() => [...document.querySelectorAll("img.cover")].every((img) => img.complete && img.naturalWidth > 0)
"""
# The page's one player, after its first track's play button was pressed.
PLAYER_LOADED = """
() => { const audio = document.querySelector("audio"); return audio.duration > 0 || audio.error !== null; }
"""


def price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def album_folder(album: AlbumInfo, fmt: str) -> str:
    return f"{album.artist} - {album.title} ({fmt.upper()})"


def track_names(album: AlbumInfo, fmt: str) -> dict[str, str]:
    """``{"NN Title.ext": sha256}`` for every track of ``album`` (titles with no unsafe characters)."""
    return {f"{t.number:02d} {t.title}.{fmt}": t.sha256[fmt] for t in album.tracks}


def check_album_zip(path: Path, album: AlbumInfo, fmt: str) -> None:
    folder = album_folder(album, fmt)
    expected = track_names(album, fmt)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        assert all(name.startswith(folder + "/") for name in names), names
        tracks = {name: archive.read(name) for name in names if name.endswith(f".{fmt}")}
        assert all(MEMBER_NAME.match(name) for name in tracks), sorted(tracks)
        assert sorted(tracks) == sorted(f"{folder}/{name}" for name in expected)
        for name, data in tracks.items():
            assert hashlib.sha256(data).hexdigest() == expected[name.split("/", 1)[1]], name


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_buyer_journey(viewport: str, page, problems: BrowserProblems, steps: Steps, store: Store,
                       tmp_path: Path) -> None:
    pack = store.pack
    album = pack.albums[0]
    track_count = len(album.tracks)

    # The front page lists the pack on sale.
    page.goto(store.url + "/")
    expect(page.get_by_role("heading", name="On sale now")).to_be_visible()
    steps.snap("01-home")
    page.get_by_role("link", name=pack.title).click()

    # The pack page: every album with a decoded cover, one player and a play button per track.
    expect(page.get_by_role("heading", level=1, name=pack.title)).to_be_visible()
    expect(page.locator("img.cover")).to_have_count(len(pack.albums))
    expect(page.locator("audio")).to_have_count(1)
    expect(page.locator("button.play-button")).to_have_count(sum(len(a.tracks) for a in pack.albums))
    if store.real_media:
        page.wait_for_function(ALL_COVERS_DECODED)
        page.locator("button.play-button").first.click()
        page.wait_for_function(PLAYER_LOADED)
        preview = page.evaluate("() => { const a = document.querySelector('audio'); "
                                "return {duration: a.duration, error: a.error && a.error.code}; }")
        assert preview["error"] is None and preview["duration"] > 0, preview
        page.get_by_role("button", name="Pause", exact=True).click()
    steps.snap("02-pack")

    # Below the minimum: the form says so and nothing is created.
    orders_before = store.order_count()
    amount = page.get_by_label(re.compile(r"^Your price"))
    email = page.get_by_label("E-mail for your download link")
    amount.fill(price(pack.min_price_cents - 1))
    email.fill(BUYER_EMAIL)
    problems.allow_status(f"{store.url}/packs/{pack.slug}/buy", 400)
    page.get_by_role("button", name="Buy the pack").click()
    expect(page.locator("#amount-error")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Please fix")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value(BUYER_EMAIL)
    assert store.order_count() == orders_before
    steps.snap("03-below-minimum")

    # Pay what you want: off to Stripe's payment page (the emulator's: a test double, whose own
    # console messages are not the store's).
    problems.allow_pages_of(store.stripe_url)
    paid = pack.min_price_cents + 650
    amount.fill(price(paid))
    page.get_by_role("button", name="Buy the pack").click()
    pay_page = re.compile(re.escape(store.stripe_url) + r"/c/pay/cs_test_\w+$")
    expect(page).to_have_url(pay_page)
    expect(page.locator("#total")).to_contain_text(price(paid))
    steps.snap("04-stripe-payment")

    # Cancel: back on the pack page with the price and address kept, nothing paid.
    page.get_by_role("link", name="Cancel and return to the store").click()
    expect(page).to_have_url(re.compile(rf"/packs/{pack.slug}/checkout-cancelled$"))
    expect(amount).to_have_value(price(paid))
    expect(email).to_have_value(BUYER_EMAIL)
    assert [status for _, status, _ in store.orders()[orders_before:]] == ["pending"]
    page.get_by_role("button", name="Buy the pack").click()
    expect(page).to_have_url(pay_page)

    # A declined card, then another card that pays.
    card = page.get_by_label("Card number")
    card.fill("4000 0000 0000 0002")
    problems.allow_status(page.url, 402)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined.")
    assert [status for _, status, _ in store.orders()[orders_before:]] == ["pending"]
    steps.snap("04b-card-declined")
    card.fill("4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()

    # The order page behind the secret link.
    expect(page).to_have_url(re.compile(r"/orders/[A-Za-z0-9_-]{20,}$"))
    expect(page.get_by_role("heading", level=1, name=pack.title)).to_be_visible()
    assert store.orders()[orders_before:] == [(BUYER_EMAIL, "paid", paid)]
    steps.snap("05-order")

    # An album zip in the format chosen once for the page (the select submits itself), checked
    # member by member.
    page.get_by_label("Format", exact=True).select_option(ZIP_FORMAT)
    expect(page).to_have_url(re.compile(rf"[?&]format={ZIP_FORMAT}$"))
    expect(page.get_by_label("Format", exact=True)).to_have_value(ZIP_FORMAT)
    section = page.locator("section.order-album").filter(
        has=page.get_by_role("heading", name=album.title, exact=True))
    with page.expect_download() as info:
        section.get_by_role("link", name="Download the album").click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == album_folder(album, ZIP_FORMAT) + ".zip"
    zip_path = tmp_path / download.suggested_filename
    download.save_as(zip_path)
    check_album_zip(zip_path, album, ZIP_FORMAT)
    # The count is written when the last byte has left, just after the browser has it all.
    for _ in range(20):
        page.reload()
        if "downloaded 1×" in (section.text_content() or ""):
            break
        page.wait_for_timeout(250)
    expect(section).to_contain_text("downloaded 1×")
    # The choice is remembered (a cookie): the order's plain address opens in that format.
    order_url = page.url.split("?")[0]
    page.goto(order_url)
    expect(page.get_by_label("Format", exact=True)).to_have_value(ZIP_FORMAT)
    expect(section.get_by_role("link", name="Download the album")).to_have_attribute(
        "href", re.compile(rf"/{ZIP_FORMAT}\.zip$"))
    steps.snap("06-downloaded")

    # Add the album in the page's format: the first Add goes through Dropbox's consent page (the
    # emulator's, a test double with no favicon) and comes back with the delivery started; the
    # page polls its progress until the done state.
    problems.allow_status(f"{store.dropbox_url}/favicon.ico", 404, once=False)
    store.emulator.set_latency(COPY_LATENCY_MS, route="files/copy_reference/save")
    # The page's one format choice (remembered since the zip) is the delivery's too.
    expect(page.get_by_label("Format", exact=True)).to_have_value(DROPBOX_FORMAT)
    expect(page.get_by_role("button", name=re.compile("Connect Dropbox"))).to_have_count(0)
    section.get_by_role("button", name=f"as {DROPBOX_LABEL}").click()
    expect(page).to_have_url(re.compile(re.escape(store.dropbox_url) + r"/oauth2/authorize"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{APP_NAME} would like access")
    page.get_by_label(re.compile(r"^Sign in as")).fill(BUYER_EMAIL)
    steps.snap("07-dropbox-consent")
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(re.escape(store.url) + r"/orders/[A-Za-z0-9_-]{20,}#delivery-\d+$"))
    local, domain = BUYER_EMAIL.split("@")
    expect(page.locator("#dropbox")).to_contain_text(f"connected as {local[0]}•••@{domain}")
    delivery = section.locator(".delivery")
    expect(delivery).to_be_visible()
    assert delivery.get_attribute("data-status") in {"queued", "running"}, "done before the page could poll it"
    steps.snap("08-delivery-started")
    expect(delivery.locator(".delivery-summary")).to_contain_text("In your Dropbox", timeout=DELIVERY_TIMEOUT_MS)
    expect(delivery.get_by_role("link", name=re.compile("^open it"))).to_have_attribute(
        "href", re.compile(r"^https://www\.dropbox\.com/home/Apps/"))
    expect(delivery).to_contain_text(f"{track_count} {DROPBOX_LABEL} files in")
    bar = delivery.locator("progress")
    expect(bar).to_have_class(re.compile(r"\bdone\b"))
    expect(bar).to_be_hidden()  # the done state is not a full progress bar
    assert bar.evaluate("(bar) => [bar.value, bar.max]") == [track_count, track_count]
    expect(delivery.locator(".file-states li")).to_have_count(track_count)
    expect(delivery.locator(".file-states .state-done")).to_have_count(track_count)
    steps.snap("10-delivery-done")

    # The files are in the buyer's emulated Dropbox, browsed as a person would.
    folder = album_folder(album, DROPBOX_FORMAT)
    names = track_names(album, DROPBOX_FORMAT)
    assert store.dropbox_files(BUYER_EMAIL) == sorted(f"/{folder}/{name}" for name in names)
    page.goto(store.dropbox_url + "/home")
    steps.snap("11-dropbox-home")
    page.get_by_role("link", name=BUYER_EMAIL).click()
    page.get_by_role("link", name="Apps/", exact=True).click()
    page.get_by_role("link", name=f"{APP_NAME}/", exact=True).click()
    page.get_by_role("link", name=f"{folder}/", exact=True).click()
    for name in names:
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    steps.snap("12-dropbox-files")


@pytest.mark.parametrize("viewport", ["desktop"])
def test_add_to_dropbox_before_connecting_asks_for_consent_then_delivers(
        viewport: str, page, problems: BrowserProblems, store: Store) -> None:
    """The one-click path: Add to Dropbox with no connection yet goes through the consent
    page and comes back with the delivery already started."""
    album = store.pack.albums[0]
    page.goto(store.paid_order_url(BUYER_EMAIL))
    section = page.locator("section.order-album").filter(
        has=page.get_by_role("heading", name=album.title, exact=True))
    page.get_by_label("Format", exact=True).select_option(DROPBOX_FORMAT)
    expect(page).to_have_url(re.compile(rf"[?&]format={DROPBOX_FORMAT}$"))
    section.get_by_role("button", name=re.compile(rf"^Add to Dropbox\b.* as {DROPBOX_LABEL}$")).click()
    expect(page).to_have_url(re.compile(re.escape(store.dropbox_url) + r"/oauth2/authorize"), timeout=5_000)
    problems.allow_status(f"{store.dropbox_url}/favicon.ico", 404, once=False)
    page.get_by_label(re.compile(r"^Sign in as")).fill(BUYER_EMAIL)
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(r"#delivery-\d+$"))
    expect(section.locator(".delivery-summary")).to_contain_text("In your Dropbox", timeout=DELIVERY_TIMEOUT_MS)
    problems.assert_none("the one-click delivery")


def test_without_javascript_a_delivery_still_shows_progress_to_done(browser, store: Store) -> None:
    """Scripts off: buying, consent and Add to Dropbox are plain forms and links, and the
    order page refreshes itself (``<noscript>`` meta refresh) until the delivery is done."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1024, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        store.emulator.set_latency(800, route="files/copy_reference/save")
        album = store.pack.albums[0]
        page.goto(store.paid_order_url(BUYER_EMAIL))
        section = page.locator("section.order-album").filter(
            has=page.get_by_role("heading", name=album.title, exact=True))
        section.get_by_role("button", name="Add to Dropbox").click()
        page.get_by_label(re.compile(r"^Sign in as")).fill(BUYER_EMAIL)
        page.get_by_role("button", name="Allow").click()
        expect(page).to_have_url(re.compile(r"#delivery-\d+$"))
        summary = page.locator(f"section.order-album:has(h2:text-is('{album.title}')) .delivery-summary")
        # Each refresh is a new page load: the text changes only because the server says so.
        expect(summary).to_contain_text("In your Dropbox", timeout=DELIVERY_TIMEOUT_MS)
        expect(section.locator(".delivery-when")).to_contain_text(f"{len(album.tracks)} MP3 V0 files in")
        assert page.locator('meta[http-equiv="refresh"]').count() == 0
        page.screenshot(path=str(Path("artifacts/browser/no-javascript-done.png")), full_page=True)
    finally:
        context.close()
