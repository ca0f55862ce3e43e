"""A console upload over a real socket to gunicorn (the project's gunicorn.conf.py, gthread):
a zip of real-entropy FLAC masters, logged in with CSRF on, as production runs it; once with
a Content-Length as browsers send it, once chunked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from shop import create_app
from shop.admin import operators
from shop.extensions import db
from shop.models import Album, Pack
from tests import factories
from tests.admin.conftest import PASSWORD
from tests.catalog.audio import zip_folder
from tests.downloads.test_live import Server, Site, start_gunicorn, stop

pytestmark = pytest.mark.slow

EMAIL = "ops@example.com"


@pytest.fixture(autouse=True)
def fresh_login_per_request() -> None:
    """Overrides the package's fixture: this module serves its own app through gunicorn, on its
    own SQLite file, so the in-process ``app`` (and a second run per database) does not apply."""


@dataclass
class UploadSite(Site):
    pack_id: int = 0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> UploadSite:
    folder = tmp_path_factory.mktemp("live-upload")
    site = UploadSite(folder, f"sqlite:///{folder / 'shop.sqlite3'}", 0, "", 0, "")
    app = create_app({**site.config(), "WTF_CSRF_ENABLED": True})
    with app.app_context():
        db.create_all()
        operators.create(EMAIL, PASSWORD)
        site.pack_id = factories.make_pack(app, slug="upcoming", starts_in=timedelta(days=1)).id
        db.session.remove()
        db.engine.dispose()
    return site


@pytest.fixture(scope="module")
def server(site: UploadSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_gunicorn(site, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    try:
        yield server
    finally:
        stop(server)


def token_on(page: requests.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def albums_of(site: UploadSite) -> list[tuple[str, int]]:
    app = create_app(site.config())
    with app.app_context():
        try:
            pack = db.session.get(Pack, site.pack_id)
            return [(a.title, len(a.tracks)) for a in db.session.scalars(
                db.select(Album).where(Album.pack_id == pack.id).order_by(Album.position))]
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_real_entropy_zip_over_a_socket(site: UploadSite, server: Server, noisy_album: Path, tmp_path: Path) -> None:
    archive = zip_folder(noisy_album, tmp_path / "hiss-garden.zip")
    assert archive.stat().st_size >= 5 * 1024 * 1024
    session = requests.Session()
    login = session.get(f"{server.base_url}/admin/login", timeout=30)
    session.post(f"{server.base_url}/admin/login", data={"email": EMAIL, "password": PASSWORD,
                                                        "csrf_token": token_on(login)}, timeout=30)
    page = session.get(f"{server.base_url}/admin/packs/{site.pack_id}", timeout=30)
    assert page.status_code == 200, server.log_text()[-2000:]
    headers = {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json", "X-CSRFToken": token_on(page)}
    url = f"{server.base_url}/admin/packs/{site.pack_id}/upload"

    with archive.open("rb") as body:
        response = session.post(url, files={"files": ("hiss-garden.zip", body, "application/zip")}, headers=headers,
                                timeout=300)
    assert response.status_code == 200, (response.text, server.log_text()[-3000:])
    answer = response.json()
    assert answer["albums"][0]["label"] == "Static Bloom \u2014 Hiss Garden" and answer["tracks_to_encode"] == 2
    assert ("Hiss Garden", 2) in albums_of(site)

    # Chunked (no Content-Length): counted against the cap as it is read; the same album is unchanged.
    prepared = requests.Request("POST", url, files={"files": ("hiss-garden.zip", archive.read_bytes())},
                                headers=headers).prepare()
    raw, content_type = prepared.body, prepared.headers["Content-Type"]
    assert isinstance(raw, bytes)
    chunks = (raw[i:i + 300_000] for i in range(0, len(raw), 300_000))
    again = session.post(url, data=chunks, headers={**headers, "Content-Type": content_type}, timeout=300)
    assert again.status_code == 200, (again.text, server.log_text()[-3000:])
    assert again.json()["albums"][0]["tracks_unchanged"] == 2
