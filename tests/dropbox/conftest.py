"""A store wired to a Dropbox emulator over HTTP, a private Redis, and seeded albums.

Everything is real: the store app is served on a loopback port (Dropbox fetches our
signed URLs from it in the save_url fallback), the emulator is served on another, the
official SDK talks HTTP to it, and workers are separate processes.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from dropbox.oauth import OAuth2FlowResult

import dropbox_emulator
from emulator_common import ServerThread
from shop.config import DEFAULT_DROPBOX_TIMEOUT
from shop.dropbox.connections import save_connection
from shop.dropbox.models import Delivery
from shop.dropbox.seed import albums_in_scope, run_seed
from shop.extensions import db
from shop.models import Order
from tests import factories
from tests.services import APP_KEY, APP_SECRET, STORE_EMAIL

BUYER_EMAIL = "buyer@example.com"


@pytest.fixture
def emulator_server():
    app = dropbox_emulator.create_app(apps=[(APP_KEY, APP_SECRET, "Indie Packs")])
    server = ServerThread(app).start()
    emulator = app.extensions["dropbox_emulator"]
    try:
        yield server, emulator
    finally:
        server.stop()
        emulator.close()


@pytest.fixture
def emulator(emulator_server):
    return emulator_server[1]


@pytest.fixture
def stale_seconds() -> int:
    """``DELIVERY_STALE_SECONDS`` of the test's app and workers: the production default, so each
    Dropbox call keeps the SDK's 30 s timeout (the timeout stays under half the stale limit) and
    a busy machine cannot fail a test by one slow answer. A test that needs a dead worker's
    delivery taken over quickly parametrizes this fixture with a few seconds."""
    return 90


@pytest.fixture
def app_overrides(emulator_server, redis_server, store_port, stale_seconds):
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    server, emulator = emulator_server
    store_tokens = emulator.issue_tokens(APP_KEY, STORE_EMAIL)
    return dict(
        DROPBOX_APP_KEY=APP_KEY,
        DROPBOX_APP_SECRET=APP_SECRET,
        DROPBOX_API_URL=server.base_url,
        DROPBOX_STORE_REFRESH_TOKEN=store_tokens.refresh_token,
        TOKEN_KEYS=Fernet.generate_key().decode(),
        REDIS_URL=redis_server.url,
        BASE_URL=f"http://127.0.0.1:{store_port}",
        DELIVERY_STALE_SECONDS=stale_seconds,
    )


# The formats a seeded pack comes in unless a test asks for others with
# ``@pytest.mark.seed_formats(...)``: seeding is an upload and a reference per file, and all
# eight formats cost about eight times as much as one.
SEED_FORMATS = ("mp3-v0", "flac", "wav")


@pytest.fixture
def seeded_pack(app, emulator, request: pytest.FixtureRequest):
    """An on-sale pack of three albums in :data:`SEED_FORMATS` (or the test's
    ``seed_formats`` marker), every file seeded into the store's emulated Dropbox."""
    marker = request.node.get_closest_marker("seed_formats")
    pack = factories.make_pack(app, formats=tuple(marker.args) if marker else SEED_FORMATS, albums=(
        *factories.DEFAULT_ALBUMS, ("Mono Lake", "Salt Flats", "indie", ["One", "Two", "Three", "Four"]),
    ))
    # The seed is set-up here, not what is tested: its calls get the default timeout even in a
    # test with a short stale limit, whose SDK timeout (under half of it) an upload to the
    # emulator can exceed on a busy machine (the client reads the setting at every call).
    short = app.config["DROPBOX_TIMEOUT"]
    app.config["DROPBOX_TIMEOUT"] = DEFAULT_DROPBOX_TIMEOUT
    try:
        summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    finally:
        app.config["DROPBOX_TIMEOUT"] = short
    assert summary.failed == 0, summary.failures
    return pack


@pytest.fixture
def dropbox_buyer(app, seeded_pack, emulator):
    """``(order, token)``: a paid order whose buyer has connected Dropbox (``tests/payments``'
    ``buyer`` is a browser-like buyer of its own)."""
    order, token = factories.make_order(app, seeded_pack, email=BUYER_EMAIL)
    connect_buyer(order, emulator)
    return order, token


def per_file_only():
    """Forget the store's album-folder references: no fast path, no batch path, file by file."""
    from shop.dropbox.models import AlbumFolderRef

    db.session.execute(AlbumFolderRef.__table__.delete())
    db.session.commit()


def connect_buyer(order, emulator, email: str = BUYER_EMAIL):
    """Store a connection as the OAuth callback would (the web flow has its own tests)."""
    issued = emulator.issue_tokens(APP_KEY, email)
    result = OAuth2FlowResult(
        access_token=issued.access_token, account_id=issued.account_id, user_id="1",
        url_state=None, refresh_token=issued.refresh_token,
        expires_in=4 * 3600, scope=None,
    )
    return save_connection(order, result)


# --- Helpers for the tests of this folder ----------------------------------------------------------


def fresh(delivery_id: int) -> Delivery:
    """The delivery as the database has it now (and the read transaction ended, for SQLite)."""
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery_id)
    db.session.commit()
    return delivery


def done_count(delivery_id: int) -> int:
    return sum(1 for f in fresh(delivery_id).files if f.status == "done")


def click(client, token, target: str | int = "pack", fmt: str = "mp3-v0", **kw):
    """Add to Dropbox as the order page's script clicks it: the pack, or one album by id."""
    url = f"/orders/{token}/dropbox/pack" if target == "pack" else f"/orders/{token}/dropbox/albums/{target}"
    return client.post(url, data={"format": fmt}, headers={"Accept": "application/json"}, **kw)


def refund_directly(order: Order) -> None:
    """A refund as the code before M3 knew it: only the status value changes."""
    db.session.get(Order, order.id).status = "refunded"
    db.session.commit()


def force_save_url(seeded_pack, album_index: int = 1, fmt: str = "flac") -> None:
    """No copy references for one album and format: the job fetches from our signed links."""
    from shop.dropbox.models import AlbumFolderRef

    album = seeded_pack.albums[album_index]
    for track in album.tracks:
        track.file(fmt).copy_ref = None
        track.file(fmt).dropbox_path = None
    db.session.execute(AlbumFolderRef.__table__.delete())
    db.session.commit()
