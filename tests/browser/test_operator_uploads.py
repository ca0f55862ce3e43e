"""An operator uploads real masters in a real browser: a zip of noise-rich FLAC masters (6.7 MB,
see ``noisy_album``) into one pack and, in a second pack, the same files one upload at a time
(the first track with the cover, then the second), each through the page's own upload script;
the RQ worker encodes both albums while the pages poll. The review's F1 refused every such
upload with a 413. Screenshots at a desktop and a phone width go under
``artifacts/browser/operator-uploads/<width>/``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from shop.admin import operators
from shop.extensions import db
from shop.models import Album, Pack, utcnow
from tests.browser.conftest import ARTIFACTS, HORIZONTAL_OVERFLOW, VIEWPORTS, BrowserProblems, Store
from tests.catalog.audio import zip_folder

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

OPERATOR = "uploads@example.com"
PASSWORD = "a long operator password"
#: Four tracks of 24 s in nine encodes each, by one worker process on a shared machine.
ENCODE_TIMEOUT_MS = 480_000
WIDTHS = {"desktop": VIEWPORTS["desktop"]["viewport"], "phone": VIEWPORTS["phone"]["viewport"]}
FOLDER = ARTIFACTS / "operator-uploads"


class Shots:
    def __init__(self, page, problems: BrowserProblems) -> None:
        self.page, self.problems, self.saved = page, problems, []
        for width in WIDTHS:
            FOLDER.joinpath(width).mkdir(parents=True, exist_ok=True)
            for old in FOLDER.joinpath(width).glob("*.png"):
                old.unlink()

    def snap(self, name: str) -> None:
        for width, size in WIDTHS.items():
            self.page.set_viewport_size(size)
            self.page.wait_for_timeout(100)
            path = FOLDER / width / f"uploads-{name}.png"
            self.page.screenshot(path=path, full_page=True)
            self.saved.append(path)
            overflow = self.page.evaluate(HORIZONTAL_OVERFLOW)
            assert overflow <= 0, f"{name} at {width}: the page is {overflow}px wider than the viewport"
        self.page.set_viewport_size(WIDTHS["desktop"])
        self.problems.assert_none(name)


def local(delta: timedelta) -> str:
    return (utcnow() + delta).strftime("%Y-%m-%dT%H:%M")


def create_pack(page, title: str, slug: str) -> None:
    page.goto(page.url.split("/admin/")[0] + "/admin/packs/new")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Slug (in the pack's address)").fill(slug)
    page.get_by_label("Blurb").fill("Noise-rich masters, uploaded from the console.")
    page.get_by_label("On sale from (UTC)").fill(local(timedelta(days=2)))
    page.get_by_label("Until (UTC)").fill(local(timedelta(days=16)))
    page.get_by_label("Minimum price").fill("4.00")
    page.get_by_label("Suggested price").fill("8.00")
    page.get_by_role("button", name="Create the pack").click()
    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()


def upload(page, files: list[Path], queued: int) -> None:
    page.locator("#upload-files").set_input_files([str(p) for p in files])
    page.get_by_role("button", name="Upload and import").click()
    status = page.locator("#upload-status")
    expect(status).to_contain_text("Imported:", timeout=120_000)
    expect(status).to_contain_text(f"{queued} track(s) queued for encoding")
    assert page.locator("#upload-progress").evaluate("(bar) => bar.value === bar.max && bar.max > 0")


def album_of(store: Store, slug: str) -> Album:
    with store.app.app_context():
        pack = db.session.scalar(db.select(Pack).where(Pack.slug == slug))
        album = db.session.scalar(db.select(Album).where(Album.pack_id == pack.id))
        assert album is not None
        album.tracks  # noqa: B018 (loaded while the session is open)
        db.session.expunge_all()
        return album


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("viewport", ["desktop"])
def test_operator_uploads_real_masters(viewport: str, page, problems: BrowserProblems, store: Store,
                                       noisy_album: Path, tmp_path: Path) -> None:
    with store.app.app_context():
        operators.create(OPERATOR, PASSWORD)
    shots = Shots(page, problems)
    archive = zip_folder(noisy_album, tmp_path / "hiss-garden.zip")
    assert archive.stat().st_size >= 5 * 1024 * 1024
    masters = sorted(noisy_album.glob("*.flac"))

    page.goto(f"{store.url}/admin/packs")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("E-mail").fill(OPERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Packs")).to_be_visible()

    # A zip of the album into the first pack.
    create_pack(page, "Hiss Garden (zip)", "hiss-zip")
    upload(page, [archive], queued=2)
    expect(page.locator("tr[data-album]")).to_have_count(1)
    shots.snap("01-zip-uploaded")
    zip_url = page.url

    # The same masters into a second pack, one upload at a time.
    create_pack(page, "Hiss Garden (files)", "hiss-files")
    upload(page, [masters[0], noisy_album / "cover.png"], queued=1)
    shots.snap("02-first-file-uploaded")
    upload(page, [masters[1]], queued=1)
    expect(page.locator("tr[data-album]")).to_have_count(1)
    shots.snap("03-second-file-uploaded")
    files_url = page.url

    # The worker encodes both; each page polls its progress until its album is encoded.
    for name, url in (("04-files-encoded", files_url), ("05-zip-encoded", zip_url)):
        page.goto(url)
        album = page.locator("tr[data-album]")
        expect(album).to_have_attribute("data-state", re.compile(r"^(encoded|ready)$"), timeout=ENCODE_TIMEOUT_MS)
        expect(album).to_contain_text("18/18 files")
        shots.snap(name)

    zipped, loose = album_of(store, "hiss-zip"), album_of(store, "hiss-files")
    sent = [(m.stat().st_size,) for m in masters]
    for album in (zipped, loose):
        assert (album.artist, album.title) == ("Static Bloom", "Hiss Garden")
        assert [(t.master_size,) for t in album.tracks] == sent
    assert [t.master_sha256 for t in zipped.tracks] == [t.master_sha256 for t in loose.tracks]
    assert zipped.cover_sha256 == loose.cover_sha256 is not None
    assert len(shots.saved) == 2 * 5
