"""Home, a pack page (on sale, coming, ended) and a policy page in a real browser at desktop and phone widths: WebP
covers decode at their set size (no layout shift), the share tags are there, the footer links
the store's pages, nothing overflows and no console error or CSP violation appears.
Screenshots go to ``artifacts/browser/pages/<viewport>/``."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.extensions import db
from shop.models import Pack
from tests import factories
from tests.browser.conftest import ARTIFACTS, HORIZONTAL_OVERFLOW, VIEWPORTS, BrowserProblems, Store

COVERS_DECODED = """
() => [...document.querySelectorAll("img.cover")].every(
  (img) => img.complete && img.naturalWidth > 0 && img.currentSrc.endsWith(".webp"))
"""
# Layout shifts reported while the page loaded (PerformanceObserver, buffered).
LAYOUT_SHIFT = """
() => new Promise((resolve) => {
  let total = 0;
  new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value; })
    .observe({type: "layout-shift", buffered: true});
  setTimeout(() => resolve(total), 300);
})
"""


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_home_pack_and_policy_pages(viewport: str, page, problems: BrowserProblems, store: Store) -> None:
    folder = ARTIFACTS / "pages" / viewport
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    def snap(name: str) -> None:
        page.screenshot(path=folder / f"{name}.png", full_page=True)
        problems.assert_none(name)
        assert page.evaluate(HORIZONTAL_OVERFLOW) <= 0, f"{name} overflows at {viewport}"

    page.goto(store.url + "/")
    assert page.locator('meta[property="og:image"]').get_attribute("content") == (
        f"{store.url}/packs/{store.pack.slug}/share.png")
    assert page.locator('footer a[href="/privacy"]').count() == 1
    snap("home")

    page.goto(f"{store.url}/packs/{store.pack.slug}")
    if store.real_media:
        page.wait_for_function(COVERS_DECODED)
        box = page.locator("img.cover").first.bounding_box()
        assert box is not None and box["width"] == box["height"] and box["width"] in (88, 180)
        assert page.evaluate(LAYOUT_SHIFT) < 0.1
        share = page.request.get(f"{store.url}/packs/{store.pack.slug}/share.png")
        assert share.ok and share.headers["content-type"] == "image/png"
    snap("pack")

    page.goto(store.url + "/privacy")
    assert page.locator("h1").inner_text() == "Privacy"
    snap("privacy")

    # A pack announced for later, and one whose sale is over (the demo pack stays on sale).
    with store.app.app_context():
        for slug, starts_in in (("coming-pack", timedelta(days=3)), ("ended-pack", -timedelta(days=20))):
            if db.session.scalar(select(Pack.id).where(Pack.slug == slug)) is None:
                factories.make_pack(store.app, slug=slug, starts_in=starts_in)
    page.goto(f"{store.url}/packs/coming-pack")
    assert "goes on sale" in page.locator("main").inner_text()
    assert page.locator('form[action$="/buy"]').count() == 0
    snap("pack-coming")
    page.goto(f"{store.url}/packs/ended-pack")
    assert page.locator("#buy-heading").inner_text() == "This pack has ended"
    assert "This pack ended on" in page.locator("main").inner_text()
    assert page.locator('form[action$="/buy"]').count() == 0
    snap("pack-ended")
