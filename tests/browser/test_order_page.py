"""The order page in a real browser at 320, 390 and 1280 px: nothing wider than the window,
the page's own player plays a bought track (mouse and keyboard) and its time advances, and
after an Add to Dropbox the album shows its done state ("In your Dropbox · open it") instead of
the button. Screenshots go to ``artifacts/browser/order/``."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.browser.conftest import ARTIFACTS, REPORT_CSP_VIOLATIONS, BrowserProblems, Store

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

BUYER_EMAIL = "a.listener.with.a.very.long.address.indeed@example.com"
FOLDER = ARTIFACTS / "order"
PHONE_AGENT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/140.0.0.0 Mobile Safari/537.36")
WIDTHS = (320, 390, 1280)
# What the task asks: the document never scrolls sideways.
OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"
# Elements whose right edge is past the window (to say what overflows when something does).
WIDE = """() => [...document.querySelectorAll("body *")].filter((el) => el.getBoundingClientRect().right >
  window.innerWidth + 0.5 && getComputedStyle(el).position !== "absolute").slice(0, 5)
  .map((el) => el.tagName + "." + el.className)"""
DELIVERY_TIMEOUT_MS = 30_000


def context_for(browser, width: int):
    phone = width < 800
    context = browser.new_context(
        viewport={"width": width, "height": 800 if phone else 900},
        device_scale_factor=2 if phone else 1, is_mobile=phone, has_touch=phone,
        **({"user_agent": PHONE_AGENT} if phone else {}))
    context.set_default_timeout(10_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    return context


def snap(page, problems: BrowserProblems, name: str) -> None:
    page.screenshot(path=FOLDER / f"{name}.png", full_page=True)
    problems.assert_none(name)
    overflow = page.evaluate(OVERFLOW)
    assert overflow <= 0, f"{name}: {overflow}px wider than the window: {page.evaluate(WIDE)}"


def player_time(page) -> float:
    return page.locator("audio.player-audio").evaluate("(audio) => audio.currentTime")


def test_order_page_plays_fits_and_shows_the_dropbox_done_state(browser, store: Store) -> None:
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    order_url = store.paid_order_url(BUYER_EMAIL)
    album = store.pack.albums[0]
    first, second = album.tracks[0], album.tracks[1]

    for width in WIDTHS:
        context = context_for(browser, width)
        page = context.new_page()
        problems = BrowserProblems(page)
        try:
            page.goto(order_url)
            expect(page.get_by_role("heading", level=1)).to_have_count(1)
            expect(page.locator('meta[name="robots"]')).to_have_attribute("content", re.compile("noindex"))
            expect(page.locator("audio")).to_have_count(1)
            # The format is chosen once, above everything that downloads.
            fmt_top = page.get_by_label("Format", exact=True).bounding_box()["y"]
            assert fmt_top < page.locator("a[download]").first.bounding_box()["y"]
            # Covers are WebP at several widths, with their size set (nothing moves when they load).
            cover = page.locator("img.cover").first
            expect(cover).to_have_attribute("srcset", re.compile(r"cover-180\.webp 180w, .*cover-540\.webp 540w"))
            expect(cover).to_have_attribute("width", "140")
            if store.real_media:
                # The first cover loads at once (the others lazily, when scrolled to).
                cover.scroll_into_view_if_needed()
                page.wait_for_function(
                    '() => { const i = document.querySelector("img.cover"); return i.complete && i.naturalWidth > 0; }')
            snap(page, problems, f"{width}-01-order")

            if width in (390, 1280):
                # Play by the track's own button; the now-playing line and the clock follow.
                page.get_by_role("button", name=f"Play {first.title}").first.click()
                expect(page.locator("[data-now-title]")).to_have_text(first.title)
                toggle = page.locator("[data-player-toggle]")
                expect(toggle).to_have_text("Pause")
                page.wait_for_function(
                    "() => document.querySelector('audio.player-audio').currentTime > 0.5", timeout=15_000)
                expect(page.locator("[data-player-time]")).not_to_have_text(re.compile(r"^0:00 /"))
                snap(page, problems, f"{width}-02-playing")
                # The keyboard: Space on the toggle pauses, Enter on Next moves on.
                toggle.focus()
                page.keyboard.press("Space")
                expect(toggle).to_have_text("Play")
                paused_at = player_time(page)
                page.wait_for_timeout(400)
                assert player_time(page) == paused_at
                page.locator("[data-player-next]").focus()
                page.keyboard.press("Enter")
                expect(page.locator("[data-now-title]")).to_have_text(second.title)
                toggle.focus()
                page.keyboard.press("Space")
                expect(toggle).to_have_text("Pause")
                page.wait_for_function(
                    "() => document.querySelector('audio.player-audio').currentTime > 0.3", timeout=15_000)
                assert page.locator("audio.player-audio").evaluate("(a) => a.src").endswith(
                    page.get_by_role("button", name=f"Play {second.title}").first.get_attribute("href"))
                # Previous goes back to the first track (three seconds in, it restarts the track first).
                page.locator("[data-player-prev]").click()
                if page.locator("[data-now-title]").text_content() != first.title:
                    page.locator("[data-player-prev]").click()
                expect(page.locator("[data-now-title]")).to_have_text(first.title)
                toggle.click()
        finally:
            context.close()

    # Add the album to Dropbox (the first Add asks for consent), then its done state.
    context = context_for(browser, 1280)
    page = context.new_page()
    problems = BrowserProblems(page)
    try:
        problems.allow_pages_of(store.dropbox_url)
        store.emulator.set_latency(600, route="files/copy_reference/save")
        page.goto(order_url)
        section = page.locator("section.order-album").filter(
            has=page.get_by_role("heading", name=album.title, exact=True))
        add = section.get_by_role("button", name=re.compile(r"^Add to Dropbox"))
        expect(add).to_have_count(1)
        expect(page.get_by_role("button", name=re.compile("Connect Dropbox"))).to_have_count(0)
        add.click()
        page.get_by_label(re.compile(r"^Sign in as")).fill(BUYER_EMAIL)
        page.get_by_role("button", name="Allow").click()
        expect(page).to_have_url(re.compile(r"#delivery-\d+$"))
        summary = section.locator(".delivery-summary")
        expect(summary).to_contain_text("In your Dropbox", timeout=DELIVERY_TIMEOUT_MS)
        open_it = summary.get_by_role("link", name=re.compile(r"^open it"))
        folder = f"{album.artist} - {album.title} (MP3 V0)"
        expect(open_it).to_have_attribute(
            "href", "https://www.dropbox.com/home/Apps/Indie%20Packs/" + re.sub(
                r"[^A-Za-z0-9_.~/-]", lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), folder))
        expect(section.locator(".delivery progress")).to_be_hidden()
        snap(page, problems, "1280-03-dropbox-done")
        # As the server renders it: the done state, no Add button for this album and format.
        page.reload()
        expect(summary).to_contain_text("In your Dropbox")
        expect(section.get_by_role("button", name=re.compile(r"^Add to Dropbox"))).to_have_count(0)
        expect(section.get_by_role("button", name=re.compile(r"^Send again"))).to_have_count(1)
        snap(page, problems, "1280-04-dropbox-done-reloaded")
        for width in (320, 390):
            page.set_viewport_size({"width": width, "height": 800})
            snap(page, problems, f"{width}-03-dropbox-done")
    finally:
        context.close()

    # Drawn as the script leaves it (its controls, no Show button), so nothing moves when it
    # runs; without JavaScript, css/nojs.css brings back the browser's controls and the button.
    for scripts in (True, False):
        context = browser.new_context(viewport={"width": 390, "height": 800}, java_script_enabled=scripts)
        page = context.new_page()
        try:
            page.goto(order_url)
            native, own = page.locator("audio.player-audio"), page.locator("[data-player-controls]")
            show = page.locator("form.format-choice").get_by_role("button", name="Show")
            shown, hidden = ((own,), (native, show)) if scripts else ((native, show), (own,))
            for locator in shown:
                expect(locator).to_be_visible()
            for locator in hidden:
                expect(locator).to_be_hidden()
        finally:
            context.close()
