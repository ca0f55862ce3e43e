"""Fixtures for the emulator's contract tests: the official SDK against the emulator.

Most tests take ``transport`` and so run twice: in-process (``FlaskAdapter``, no
socket) and over real HTTP on loopback (``RedirectingSession`` to a werkzeug
server thread). Set-up goes through the control API over the same transport.
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dropbox
import pytest
import requests
from flask import Flask

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dropbox_emulator import Emulator, create_app  # noqa: E402
from dropbox_emulator.testing import (  # noqa: E402
    IN_PROCESS_BASE,
    RedirectingSession,
    emulator_session,
)
from emulator_common import ServerThread  # noqa: E402

APP_KEY, APP_SECRET, APP_NAME = "storekey", "storesecret", "Music Store"
OTHER_KEY, OTHER_SECRET = "otherkey", "othersecret"
STORE_EMAIL, BUYER_EMAIL = "store@example.com", "buyer@example.com"
REDIRECT_URI = "http://localhost:5000/dropbox/callback"


@dataclass(frozen=True)
class Names:
    """The apps and accounts every emulator test starts from."""

    app_key: str = APP_KEY
    app_secret: str = APP_SECRET
    app_name: str = APP_NAME
    other_key: str = OTHER_KEY
    other_secret: str = OTHER_SECRET
    store_email: str = STORE_EMAIL
    buyer_email: str = BUYER_EMAIL
    redirect_uri: str = REDIRECT_URI


@pytest.fixture(scope="session")
def names() -> Names:
    return Names()


class _SwitchableApp:
    """A WSGI app forwarding to whichever emulator the current test built."""

    def __init__(self) -> None:
        self.target: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.target is not None, "no emulator app attached to the loopback server"
        return self.target(environ, start_response)


@dataclass
class Transport:
    """How a test reaches the emulator: ``session`` for the SDK, ``base_url`` for control."""

    kind: str
    session: requests.Session
    base_url: str

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.base_url}/__emulator__{path}", **kwargs)


@pytest.fixture(scope="session")
def loopback() -> Iterator[tuple[ServerThread, _SwitchableApp]]:
    target = _SwitchableApp()
    with ServerThread(target) as server:
        yield server, target


@pytest.fixture
def emulator_app() -> Iterator[Flask]:
    emulator_app = create_app(apps=[(APP_KEY, APP_SECRET, APP_NAME), (OTHER_KEY, OTHER_SECRET, "Other")])
    yield emulator_app
    emulator_app.extensions["dropbox_emulator"].close()


@pytest.fixture
def emulator(emulator_app: Flask) -> Emulator:
    return emulator_app.extensions["dropbox_emulator"]


@pytest.fixture(params=["in-process", "http"])
def transport(request: pytest.FixtureRequest, emulator_app: Flask,
              loopback: tuple[ServerThread, _SwitchableApp]) -> Iterator[Transport]:
    if request.param == "in-process":
        session = emulator_session(emulator_app)
        base_url = IN_PROCESS_BASE
    else:
        server, switch = loopback
        switch.target = emulator_app
        session = RedirectingSession(server.base_url)
        base_url = server.base_url
    yield Transport(request.param, session, base_url)
    session.close()


@pytest.fixture
def link(transport: Transport) -> Callable[..., dict[str, Any]]:
    """``link(email, app_key=APP_KEY, scopes=None)`` -> the control API's token JSON."""

    def make(email: str, app_key: str = APP_KEY, scopes: list[str] | None = None
             ) -> dict[str, Any]:
        body: dict[str, Any] = {"app_key": app_key, "email": email}
        if scopes is not None:
            body["scopes"] = scopes
        response = transport.control("POST", "/tokens", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    return make


@pytest.fixture
def sdk_client(transport: Transport) -> Iterator[Callable[..., dropbox.Dropbox]]:
    """``client(access_token, **kwargs)`` -> an SDK client through the transport, no retries."""
    made: list[dropbox.Dropbox] = []

    def make(access_token: str | None = None, **kwargs: Any) -> dropbox.Dropbox:
        kwargs.setdefault("max_retries_on_error", 0)
        kwargs.setdefault("max_retries_on_rate_limit", 0)
        dbx = dropbox.Dropbox(access_token, session=transport.session, **kwargs)
        made.append(dbx)
        return dbx

    yield make


@pytest.fixture
def store_dbx(link: Callable[..., dict[str, Any]], sdk_client: Callable[..., dropbox.Dropbox]
              ) -> dropbox.Dropbox:
    """The store's account, linked to the store app with every scope."""
    return sdk_client(link(STORE_EMAIL)["access_token"])


@pytest.fixture
def buyer_dbx(link: Callable[..., dict[str, Any]], sdk_client: Callable[..., dropbox.Dropbox]
              ) -> dropbox.Dropbox:
    return sdk_client(link(BUYER_EMAIL)["access_token"])


class _FileServer(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]


class _FileHandler(http.server.BaseHTTPRequestHandler):
    server: _FileServer

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def file_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback HTTP server for save_url: ``(base_url, {path: bytes})``."""
    server = _FileServer(("127.0.0.1", 0), _FileHandler)
    server.files = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", server.files
    server.shutdown()
    server.server_close()
    thread.join()


def wait_for_job(dbx: dropbox.Dropbox, job_id: str, timeout: float = 10.0) -> Any:
    """The save_url job's status once it is no longer in progress (or when ``timeout`` is up)."""
    deadline = time.monotonic() + timeout
    while True:
        status = dbx.files_save_url_check_job_status(job_id)
        if not status.is_in_progress() or time.monotonic() > deadline:
            return status
        time.sleep(0.02)
