"""The pack page's one player in a real browser: one <audio> for the page, a play button per
track, played with the mouse and with the keyboard through the page's own controls, the elapsed
time moving, next and previous, the next track starting when one ends; the preview clips come
with Range answers (206). At 320, 390 and 1280 px nothing overflows the viewport and the bars
at the bottom do not cover the page's end. Screenshots go to
``artifacts/browser/pack-player/<viewport>/``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.browser.conftest import ARTIFACTS, REPORT_CSP_VIOLATIONS, VIEWPORTS, BrowserProblems, Store

PLAYER_VIEWPORTS: dict[str, dict] = {
    "narrow-320": {**VIEWPORTS["phone"], "viewport": {"width": 320, "height": 640}},
    "phone": VIEWPORTS["phone"],
    "desktop": VIEWPORTS["desktop"],
}
OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"
AUDIO_STATE = """() => { const a = document.querySelector("audio");
  return {paused: a.paused, time: a.currentTime, src: a.currentSrc, duration: a.duration}; }"""


@pytest.fixture
def player_page(browser, request: pytest.FixtureRequest) -> Iterator:
    context = browser.new_context(**PLAYER_VIEWPORTS[request.param])
    context.set_default_timeout(15_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.viewport_name = request.param  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


def folder_for(name: str):
    folder = ARTIFACTS / "pack-player" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def track_titles(store: Store) -> list[str]:
    return [track.title for album in store.pack.albums for track in album.tracks]


@pytest.mark.parametrize("player_page", list(PLAYER_VIEWPORTS), indirect=True)
def test_one_player_fits_every_width(player_page, store: Store) -> None:
    page, name = player_page, player_page.viewport_name
    problems = BrowserProblems(page)
    folder = folder_for(name)
    page.goto(f"{store.url}/packs/{store.pack.slug}")
    page.wait_for_selector("[data-player]:not([hidden])")
    assert page.locator("audio").count() == 1
    titles = track_titles(store)
    assert page.locator("button.play-button").count() == len(titles)
    assert page.locator("a[data-preview]").count() == 0  # every fallback link became a button
    assert page.get_by_role("button", name=f"Play {titles[0]}", exact=True).count() >= 1
    for label in ("Previous track", "Play", "Next track"):
        assert page.get_by_role("button", name=label, exact=True).is_visible()
    page.screenshot(path=folder / "pack-top.png")
    page.screenshot(path=folder / "pack-full.png", full_page=True)
    assert page.evaluate(OVERFLOW) <= 0, f"the pack page overflows at {name}"

    narrow = PLAYER_VIEWPORTS[name]["viewport"]["width"] <= 800
    assert page.locator(".buy-bar").is_visible() == narrow
    if narrow:
        # The buy bar's Buy goes to the pay box.
        page.locator(".buy-bar").get_by_role("link", name="Buy").click()
        page.wait_for_function("() => location.hash === '#buy-heading'")
    # At the very end, the fixed bars leave the footer's last link in view, not under them.
    page.evaluate("() => window.scrollTo(0, document.scrollingElement.scrollHeight)")
    last_link = page.locator("footer a").last.bounding_box()
    dock = page.locator(".dock").bounding_box()
    assert last_link is not None and dock is not None
    assert last_link["y"] + last_link["height"] <= dock["y"], (last_link, dock)
    page.screenshot(path=folder / "pack-end.png")
    problems.assert_none(f"the pack page at {name}")


def wait_for_elapsed(page, at_least: int = 1) -> None:
    """Until the player's own elapsed time reads ``at_least`` seconds or more."""
    page.wait_for_function(
        """(least) => { const [m, s] = document.querySelector("[data-elapsed]").textContent.split(":").map(Number);
          return m * 60 + s >= least; }""", arg=at_least)


@pytest.mark.parametrize("player_page", ["desktop", "narrow-320"], indirect=True)
def test_play_with_mouse_and_keyboard(player_page, store: Store) -> None:
    if not store.real_media:
        pytest.skip("the demo pack could not be built: the factory pack's previews are not audio")
    page, name = player_page, player_page.viewport_name
    problems = BrowserProblems(page)
    folder = folder_for(f"playing-{name}")
    previews: list[int] = []
    page.on("response", lambda r: previews.append(r.status) if r.url.endswith("/preview.mp3") else None)
    page.goto(f"{store.url}/packs/{store.pack.slug}")
    page.wait_for_selector("[data-player]:not([hidden])")
    titles = track_titles(store)
    now_title = page.locator("[data-now-title]")

    # Mouse: a track's own play button.
    page.get_by_role("button", name=f"Play {titles[0]}", exact=True).first.click()
    wait_for_elapsed(page)
    assert now_title.inner_text() == titles[0]
    assert not page.evaluate(AUDIO_STATE)["paused"]
    assert page.get_by_role("button", name=f"Pause {titles[0]}", exact=True).count() >= 1
    assert page.locator("[data-total]").inner_text() != "0:00"
    page.screenshot(path=folder / "01-playing.png")
    # Pause with the bar's button (mouse), and the time stops.
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_function("() => document.querySelector('audio').paused")
    # The toggle is renamed by the "pause" event's handler, which may run after `paused` is true.
    page.get_by_role("button", name="Play", exact=True).wait_for(state="visible", timeout=5000)

    # Keyboard: Tab from Previous reaches Play and Next; Enter on Next plays the second track.
    page.get_by_role("button", name="Previous track").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.dataset.toggle !== undefined")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Next track"
    page.keyboard.press("Enter")
    page.wait_for_function("(t) => document.querySelector('[data-now-title]').textContent === t", arg=titles[1])
    page.wait_for_function("() => !document.querySelector('audio').paused")
    wait_for_elapsed(page)
    # Space on the bar's toggle pauses, and again plays.
    page.get_by_role("button", name="Pause", exact=True).focus()
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('audio').paused")
    page.keyboard.press("Space")
    page.wait_for_function("() => !document.querySelector('audio').paused")
    # Previous goes back to the first track.
    page.get_by_role("button", name="Previous track").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("(t) => document.querySelector('[data-now-title]').textContent === t", arg=titles[0])
    # Space on a track's own button (the third) plays that track.
    page.get_by_role("button", name=f"Play {titles[2]}", exact=True).first.focus()
    page.keyboard.press("Space")
    page.wait_for_function("(t) => document.querySelector('[data-now-title]').textContent === t", arg=titles[2])
    wait_for_elapsed(page)
    page.screenshot(path=folder / "02-keyboard.png")

    # When a clip ends, the next track starts by itself.
    page.wait_for_function("() => Number.isFinite(document.querySelector('audio').duration)")
    page.evaluate("() => { const a = document.querySelector('audio'); a.currentTime = a.duration - 0.3; }")
    page.wait_for_function("(t) => document.querySelector('[data-now-title]').textContent === t", arg=titles[3])
    page.wait_for_function("() => { const a = document.querySelector('audio'); "
                           "return !a.paused && a.currentTime > 0.2; }")
    page.screenshot(path=folder / "03-next-by-itself.png")

    assert page.evaluate(OVERFLOW) <= 0
    assert 206 in previews, previews  # the clips are answered with ranges
    problems.assert_none(f"playing at {name}")
