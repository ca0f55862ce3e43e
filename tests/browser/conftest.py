"""A whole store for a real browser, and the browser.

``store`` starts every part the buyer's journey touches, as in production but on loopback:
a private ``redis-server``, the Dropbox emulator served over HTTP with a linked store
account, the Stripe emulator served over HTTP with the store's webhook registered (the
store pays through it, ``PAYMENT_PROVIDER=stripe``), the store served over HTTP on the
port in ``BASE_URL`` (with CSRF on), an RQ worker process, a SQLite file database, and
the demo pack (real, playable audio and covers) seeded into the store's emulated Dropbox.

``page`` is a fresh Chromium context at one of :data:`VIEWPORTS` (Debian's
``/usr/bin/chromium``; nothing is downloaded), ``problems`` collects the page's console
errors, uncaught exceptions and CSP violations, and ``steps`` saves a full-page
screenshot per step under ``artifacts/browser/<viewport>/``.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import func, select

import dropbox_emulator
import stripe_emulator
from dropbox_emulator.emulator import Emulator
from emulator_common import ServerThread
from shop import create_app
from shop.dropbox.seed import albums_in_scope, run_seed
from shop.extensions import db
from shop.models import FORMATS, Order, Pack, utcnow
from tests import factories
from tests.services import APP_KEY, APP_SECRET, ROOT, STORE_EMAIL, RedisServer, WorkerProcess, free_port, worker_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts" / "browser"
#: The app folder's name in the emulator: buyers' files land in ``/Apps/<name>/``.
APP_NAME = "Indie Packs"
STRIPE_KEY = "sk_test_indiepacks_browser"
STRIPE_WEBHOOK_SECRET = "whsec_indiepacks_browser"

VIEWPORTS: dict[str, dict] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/140.0.0.0 Mobile Safari/537.36"
        ),
    },
}

# Runs before any page script and outside the page's CSP. Chromium also logs its own
# "Refused to ..." line; this adds the directive and the blocked resource in one message.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline") +
    " in " + event.sourceFile + ":" + event.lineNumber);
});
"""

HORIZONTAL_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@dataclass(frozen=True)
class TrackInfo:
    number: int
    title: str
    sha256: dict[str, str]  # by format


@dataclass(frozen=True)
class AlbumInfo:
    id: int
    artist: str
    title: str
    tracks: tuple[TrackInfo, ...]


@dataclass(frozen=True)
class PackInfo:
    """The pack on sale, as plain values (no rows bound to a session)."""

    slug: str
    title: str
    currency: str
    min_price_cents: int
    suggested_price_cents: int
    albums: tuple[AlbumInfo, ...]

    @classmethod
    def of(cls, pack: Pack) -> PackInfo:
        albums = tuple(
            AlbumInfo(
                id=album.id, artist=album.artist, title=album.title,
                tracks=tuple(
                    TrackInfo(track.number, track.title,
                              {fmt: track.file(fmt).sha256 for fmt in FORMATS if track.file(fmt)})
                    for track in sorted(album.tracks, key=lambda t: t.number)
                ),
            )
            for album in sorted(pack.albums, key=lambda a: a.position)
        )
        return cls(pack.slug, pack.title, pack.currency, pack.min_price_cents, pack.suggested_price_cents, albums)


@dataclass
class Store:
    """The running store and its emulated Dropbox, as the test sees them."""

    app: Flask
    url: str
    dropbox_url: str
    emulator: Emulator
    stripe_url: str
    pack: PackInfo
    #: False when the demo pack could not be built and the factory pack (bytes that are
    #: neither audio nor images) stands in: covers and previews are then not checked.
    real_media: bool
    worker_log: Path

    def order_count(self) -> int:
        with self.app.app_context():
            return db.session.scalar(select(func.count(Order.id))) or 0

    def orders(self) -> list[tuple[str, str, int]]:
        """``(email, status, amount_cents)`` of every order."""
        with self.app.app_context():
            return [(o.email, o.status, o.amount_cents) for o in db.session.scalars(select(Order).order_by(Order.id))]

    def paid_order_url(self, email: str) -> str:
        """The order page of a new paid order (for tests that start after the checkout)."""
        with self.app.app_context():
            pack = db.session.scalar(select(Pack).where(Pack.slug == self.pack.slug))
            _, token = factories.make_order(self.app, pack, email=email)
            return f"{self.url}/orders/{token}"

    def dropbox_files(self, email: str) -> list[str]:
        """App-folder-relative paths of every file in ``email``'s emulated Dropbox."""
        return sorted(f["path_display"] for f in self.emulator.list_files(email, APP_KEY))


@pytest.fixture(scope="session")
def demo_albums(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The demo albums as tagged files on disk, synthesised once per session (the slow part).

    ``None`` when :mod:`shop.catalog.demo` cannot be imported; the factory pack stands in.
    """
    try:
        from shop.catalog.demo import write_demo_albums
    except ImportError:
        return None
    root = tmp_path_factory.mktemp("demo-albums")
    write_demo_albums(root)
    return root


def _make_pack(app: Flask, demo_albums: Path | None) -> tuple[Pack, bool]:
    if demo_albums is None:
        return factories.make_pack(app), False
    # The same steps as shop.catalog.demo.create_demo_pack, minus the synthesis done above.
    from shop.catalog.demo import demo_settings
    from shop.catalog.importer import import_albums

    report = import_albums(demo_albums, demo_settings())
    if report.encode_track_ids:
        # The buyer files and previews are encoded from the masters; until then the pack is not on sale.
        from shop.catalog.encode_sync import encode_now

        summary = encode_now(report.encode_track_ids, workers=1)
        assert not summary.failures, summary.failures
    pack = db.session.scalar(select(Pack).where(Pack.slug == report.slug))
    assert pack is not None, report
    return pack, True


@dataclass(frozen=True)
class Catalog:
    """The demo pack imported and encoded: a SQLite file and the media folder its rows name."""

    database: Path
    media: Path
    slug: str
    real_media: bool

    def copy_to(self, database: Path, media: Path) -> None:
        # SQLite's backup reads through the write-ahead log, which a plain file copy could miss.
        with contextlib.closing(sqlite3.connect(self.database)) as source, \
                contextlib.closing(sqlite3.connect(database)) as copy:
            source.backup(copy)
        shutil.copytree(self.media, media)


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory, demo_albums: Path | None) -> Catalog:
    """The demo pack imported and encoded into every buyer format once per test process (about
    20 s): each store starts from a copy of it, as if it had just imported the pack itself.
    The stores differ in what depends on their own services (the seed into their Dropbox)."""
    folder = tmp_path_factory.mktemp("demo-catalog")
    database = folder / "shop.sqlite3"
    app = create_app({"ENV": "testing", "SECRET_KEY": "demo-catalog", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                      "MEDIA_ROOT": str(folder / "media"), "OUTBOX_DIR": str(folder / "outbox"), "MAIL_URL": None})
    with app.app_context():
        db.create_all()
        pack, real_media = _make_pack(app, demo_albums)
        slug = pack.slug
        _dispose(app)
    return Catalog(database=database, media=folder / "media", slug=slug, real_media=real_media)


def _start_the_sale_now(slug: str) -> Pack:
    """The copied pack's sale window moved to start now, as a fresh import's would."""
    pack = db.session.scalar(select(Pack).where(Pack.slug == slug))
    assert pack is not None, slug
    length = pack.ends_at - pack.starts_at
    pack.starts_at = utcnow()
    pack.ends_at = pack.starts_at + length
    db.session.commit()
    return pack


@pytest.fixture
def store(tmp_path: Path, demo_catalog: Catalog) -> Iterator[Store]:
    yield from serve_store(tmp_path, demo_catalog)


def serve_store(tmp_path: Path, catalog: Catalog) -> Iterator[Store]:
    """The ``store`` fixture's body, for a fixture of a wider scope (one store for a module)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/install_system_deps.sh installs it)")
    with contextlib.ExitStack() as stack:
        redis = RedisServer().start()
        stack.callback(redis.stop)

        emulator_app = dropbox_emulator.create_app(apps=[(APP_KEY, APP_SECRET, APP_NAME)])
        emulator: Emulator = emulator_app.extensions["dropbox_emulator"]
        stack.callback(emulator.close)
        emulator_server = ServerThread(emulator_app).start()
        stack.callback(emulator_server.stop)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        stripe_app = stripe_emulator.create_app(api_keys=[STRIPE_KEY],
                                                webhooks=[(f"{url}/payments/stripe/webhook", STRIPE_WEBHOOK_SECRET)])
        stack.callback(stripe_app.extensions["stripe_emulator"].close)
        stripe_server = ServerThread(stripe_app).start()
        stack.callback(stripe_server.stop)
        database = tmp_path / "shop.sqlite3"
        catalog.copy_to(database, tmp_path / "media")
        app = create_app({
            "ENV": "testing",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{database}",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_URL": None,
            "BASE_URL": url,
            "SERVER_NAME": None,
            "WTF_CSRF_ENABLED": True,
            "REDIS_URL": redis.url,
            "DROPBOX_APP_KEY": APP_KEY,
            "DROPBOX_APP_SECRET": APP_SECRET,
            "DROPBOX_API_URL": emulator_server.base_url,
            "DROPBOX_STORE_REFRESH_TOKEN": emulator.issue_tokens(APP_KEY, STORE_EMAIL).refresh_token,
            "TOKEN_KEYS": Fernet.generate_key().decode(),
            "PAYMENT_PROVIDER": "stripe",
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "STRIPE_API_URL": stripe_server.base_url,
        })
        with app.app_context():
            stack.callback(_dispose, app)
            pack = _start_the_sale_now(catalog.slug)
            summary = run_seed(albums_in_scope(pack_slug=pack.slug))
            assert summary.failed == 0, summary.failures
            info = PackInfo.of(pack)
            db.session.remove()

        store_server = ServerThread(app, port=port).start()
        stack.callback(store_server.stop)
        worker_log = tmp_path / "worker.log"
        worker = WorkerProcess(worker_env(app), log_path=worker_log).start()
        stack.callback(worker.stop)

        yield Store(app=app, url=url, dropbox_url=emulator_server.base_url, emulator=emulator,
                    stripe_url=stripe_server.base_url, pack=info, real_media=catalog.real_media, worker_log=worker_log)


def _dispose(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (scripts/install_system_deps.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, viewport: str, request: pytest.FixtureRequest):
    """A new page in a fresh context (own cookies) at ``viewport``, a key of :data:`VIEWPORTS`."""
    context = browser.new_context(**VIEWPORTS[viewport], accept_downloads=True)
    context.set_default_timeout(10_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            with contextlib.suppress(Exception):
                ARTIFACTS.joinpath(viewport).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=ARTIFACTS / viewport / "failure.png", full_page=True)
        context.close()


class BrowserProblems:
    """Console errors, uncaught exceptions and CSP violations seen by one page."""

    def __init__(self, page) -> None:
        self.seen: list[str] = []
        self._allowed: list[tuple[str, int, bool]] = []
        self._foreign: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"uncaught exception on {page.url}: {error}"))

    def allow_status(self, url: str, status: int, once: bool = True) -> None:
        """The next response of ``url`` (each one unless ``once``) is meant to be ``status``, as a
        form error is a 400: Chromium's "Failed to load resource" line for it is not a problem."""
        self._allowed.append((url, status, once))

    def allow_pages_of(self, origin: str) -> None:
        """Console errors of pages under ``origin`` (a test double's own page, such as the Stripe
        emulator's, whose ``data:`` favicon its own CSP blocks) are not the store's problems."""
        self._foreign.append(origin)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        location = message.location or {}
        url = location.get("url", "?")
        if any(url.startswith(origin + "/") or f" in {origin}/" in message.text for origin in self._foreign):
            return
        for allowed in self._allowed:
            allowed_url, status, once = allowed
            if url == allowed_url and f"status of {status} " in message.text:
                if once:
                    self._allowed.remove(allowed)
                return
        self.seen.append(f"console error at {url}:{location.get('lineNumber', '?')}: {message.text}")

    def assert_none(self, where: str) -> None:
        assert not self.seen, f"browser problems by {where}:\n" + "\n".join(self.seen)


@pytest.fixture
def problems(page) -> BrowserProblems:
    return BrowserProblems(page)


class Steps:
    """A full-page screenshot per step. After each, no browser problem may have appeared and
    the page may not scroll sideways (what overflows on a phone shows up here)."""

    def __init__(self, page, folder: Path, problems: BrowserProblems) -> None:
        self.page = page
        self.folder = folder
        self.problems = problems
        self.saved: list[Path] = []

    def snap(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self.saved.append(path)
        self.problems.assert_none(name)
        overflow = self.page.evaluate(HORIZONTAL_OVERFLOW)
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the viewport"
        return path


@pytest.fixture
def steps(page, viewport: str, problems: BrowserProblems) -> Steps:
    folder = ARTIFACTS / viewport
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Steps(page, folder, problems)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item, so ``page`` can screenshot a failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
