"""An artist opens their private statement link in a real browser, at phone and desktop widths,
and sees their months and their albums' sales (ledger rows and orders made directly: the store
here is only the web server, the money part is another test's). Screenshots go to
``artifacts/browser/statements/<viewport>/``."""

from __future__ import annotations

import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emulator_common import ServerThread
from shop import create_app
from shop.downloads.models import DownloadCount
from shop.extensions import db
from shop.ledger.models import EntryKind
from shop.models import utcnow
from shop.statements import links
from tests import factories
from tests.browser.conftest import ARTIFACTS, HORIZONTAL_OVERFLOW, VIEWPORTS, BrowserProblems
from tests.ledger_rows import post, sale
from tests.services import free_port


@pytest.fixture
def statement_site(tmp_path: Path):
    """The store's web server on loopback with one pack, sales in the ledger for its first
    artist, and that artist's statement link: ``(url, artist name, album title)``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = tmp_path / "shop.sqlite3"
    app = create_app({
        "ENV": "testing", "SECRET_KEY": secrets.token_hex(32), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "MEDIA_ROOT": str(tmp_path / "media"), "OUTBOX_DIR": str(tmp_path / "outbox"), "MAIL_URL": None,
        "BASE_URL": url, "SERVER_NAME": None, "WTF_CSRF_ENABLED": True,
    })
    with app.app_context():
        db.create_all()
        pack = factories.make_pack(app)
        album = next(a for a in pack.albums if a.position == 1)
        artist = album.artist_record
        artist.name = "The Quiet Fires & Friends With A Rather Long Band Name"
        db.session.commit()
        orders = [factories.make_order(app, pack, email=f"buyer{n}@example.com")[0] for n in range(3)]
        now = utcnow()
        db.session.add_all([DownloadCount(order_id=o.id, kind="album", item_id=album.id, format=fmt, count=1,
                                          first_at=now, last_at=now)
                            for o, fmt in zip(orders, ("flac", "flac", "mp3-v0"), strict=True)])
        db.session.commit()
        october, november = datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)
        for order, cents in zip(orders, (450, 900, 1350), strict=True):
            sale(artist, cents, fee=round(cents * 0.05), order=order, at=october)
        post(EntryKind.PAYOUT, {artist: -2000}, at=datetime(2026, 10, 31, tzinfo=UTC))
        post(EntryKind.REFUND, {artist: -900}, order=orders[1], at=november)
        token = links.mint(artist)
        db.session.commit()
        name, title = artist.name, album.title
        db.session.remove()
    server = ServerThread(app, port=port).start()
    try:
        yield f"{url}/statements/{token}", name, title
    finally:
        server.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_artist_reads_their_statement(viewport: str, page, problems: BrowserProblems, statement_site) -> None:
    url, name, title = statement_site
    folder = ARTIFACTS / "statements" / viewport
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    response = page.goto(url)
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text() == name
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex, nofollow"

    def figure(month: str, row: str) -> str:
        return page.locator(f'table[data-month="{month}"] tr.{row} td[data-currency="USD"]').inner_text()

    assert figure("2026-10", "gross") == "$27.00" and figure("2026-10", "fees") == "$1.35"
    assert figure("2026-10", "paid-out") == "$20.00" and figure("2026-10", "closing") == "$5.65"
    assert figure("2026-11", "refunds") == "$9.00" and figure("2026-11", "closing") == "-$3.35"
    assert page.locator("#negative-note").is_visible()
    assert "next payout nets it off" in page.locator("#negative-note").inner_text()

    sales = page.locator("#sales li").first
    assert title in sales.inner_text()
    assert sales.locator(".orders").inner_text() == "3"
    assert sales.locator(".formats").inner_text() == "FLAC 2, MP3 V0 1"
    assert "pays you by hand" in page.locator("#get-paid").inner_text()

    page.screenshot(path=folder / "statement.png", full_page=True)
    problems.assert_none("statement")
    assert page.evaluate(HORIZONTAL_OVERFLOW) <= 0, f"the statement page overflows at {viewport}"

    # A wrong link is a plain 404 and leaks nothing.
    problems.allow_status(url[:-5] + "AAAAA", 404)
    missing = page.goto(url[:-5] + "AAAAA")
    assert missing is not None and missing.status == 404
    assert name not in page.content()
    problems.assert_none("wrong link")
