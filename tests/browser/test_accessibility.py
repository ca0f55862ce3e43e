"""axe-core finds no accessibility violations on the store's pages, in a real Chromium at
phone and desktop widths: home, a pack page on sale, a paid order's page, the lost-link
page, a policy page and the operator console's dashboard.

axe-core 4.12.1 (bundled by axe-playwright-python, pinned in requirements-dev.txt) runs with
its default rules (WCAG 2.0-2.2 A and AA plus its best practices) and, as Lighthouse does,
``target-size`` (24 × 24 px touch targets, off by default), after the page has loaded.
One store serves the whole module. Each page's screenshot goes to
``artifacts/browser/accessibility/<viewport>/<page>.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from shop.admin import operators
from tests.browser.conftest import ARTIFACTS, VIEWPORTS, BrowserProblems, Catalog, Store, serve_store

axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")
expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

OPERATOR = "axe.ops@example.com"
PASSWORD = "a long operator password for axe"
FOLDER = ARTIFACTS / "accessibility"
#: axe-core's version, as its bundled script says: the rules this test checks against.
AXE_VERSION = "4.12.1"
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}

LOAD_LAZY_IMAGES = "() => document.querySelectorAll('img[loading=lazy]').forEach((img) => { img.loading = 'eager'; })"
IMAGES_COMPLETE = "() => [...document.images].every((img) => img.complete)"

# Pages whose violations are known and left to the work that owns them. Strict: once the
# page is fixed the test says so, and the mark goes.
KNOWN: dict[str, str] = {}


def page_params() -> list:
    params = []
    for viewport in VIEWPORTS:
        for name in ("home", "pack", "order", "lost", "policy", "console"):
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN[name])] if name in KNOWN else []
            params.append(pytest.param(viewport, name, marks=marks, id=f"{viewport}-{name}"))
    return params


@pytest.fixture(scope="module")
def audited_store(tmp_path_factory: pytest.TempPathFactory, demo_catalog: Catalog) -> Iterator[Store]:
    yield from serve_store(tmp_path_factory.mktemp("axe-store"), demo_catalog)


@pytest.fixture(scope="module")
def addresses(audited_store: Store) -> dict[str, str]:
    """Each audited page's address (a paid order and an operator made once for the module)."""
    store = audited_store
    with store.app.app_context():
        operators.create(OPERATOR, PASSWORD)
    return {
        "home": store.url + "/",
        "pack": f"{store.url}/packs/{store.pack.slug}",
        "order": store.paid_order_url("axe.buyer@example.com"),
        "lost": store.url + "/orders/lost",
        "policy": store.url + "/privacy",
        "console": store.url + "/admin/",
    }


def violations(page) -> list[str]:
    """One line per violated rule: its id, impact, help text and the first few elements."""
    axe = axe_sync.Axe()
    assert AXE_VERSION in axe.axe_script[:40], "axe-playwright-python bundles another axe-core"
    results = axe.run(page, options=AXE_OPTIONS)
    assert results.response["testEngine"]["version"] == AXE_VERSION
    # The rules ran: an empty page or an axe that failed to start passes nothing.
    assert len(results.response["passes"]) > 10, results.response["passes"]
    lines = []
    for violation in results.response["violations"]:
        targets = ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:4])
        more = len(violation["nodes"]) - 4
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}"
                     + (f" and {more} more" if more > 0 else ""))
    return lines


@pytest.mark.parametrize(("viewport", "name"), page_params())
def test_no_axe_violations(viewport: str, name: str, page, problems: BrowserProblems,
                           addresses: dict[str, str]) -> None:
    if name == "console":
        page.goto(addresses["console"])
        expect(page).to_have_url(re.compile(r"/admin/login\?next="))
        page.get_by_label("E-mail").fill(OPERATOR)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    else:
        page.goto(addresses[name])
    page.wait_for_load_state("load")
    # The screenshot shows every cover: lazy ones load now, and it waits for them (a failed
    # image counts as complete too).
    page.evaluate(LOAD_LAZY_IMAGES)
    page.wait_for_function(IMAGES_COMPLETE)
    FOLDER.joinpath(viewport).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=FOLDER / viewport / f"{name}.png", full_page=True)
    found = violations(page)
    assert not found, f"axe-core {AXE_VERSION} on {name} at {viewport}:\n" + "\n".join(found)
    problems.assert_none(name)
