"""Downloads from a real gunicorn (the project's gunicorn.conf.py) over real sockets:
a throttled client outlasting the worker timeout, and ``curl -C -`` resuming a zip."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shop import create_app
from shop.downloads.counting import download_counts
from shop.extensions import db
from shop.models import Order
from tests import factories
from tests.downloads.conftest import need_tool, pack_url
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
FILE_SIZE = 4 * 1024 * 1024  # five WAV tracks: a 20 MB pack zip, far more than socket buffers
WORKER_TIMEOUT = 2

pytestmark = pytest.mark.slow


@dataclass
class Site:
    folder: Path
    database_url: str
    order_id: int
    url_path: str
    size: int
    sha256: str

    def config(self) -> dict:
        return {"TESTING": True, "ENV": "testing", "SECRET_KEY": "live", "WTF_CSRF_ENABLED": False,
                "SQLALCHEMY_DATABASE_URI": self.database_url, "MEDIA_ROOT": str(self.folder / "media")}

    def counts(self) -> dict:
        app = create_app(self.config())
        with app.app_context():
            try:
                return download_counts(db.session.get(Order, self.order_id))
            finally:
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder = tmp_path_factory.mktemp("live")
    site = Site(folder, f"sqlite:///{folder / 'shop.sqlite3'}", 0, "", 0, "")
    app = create_app(site.config())
    with app.app_context():
        db.create_all()
        pack = factories.make_pack(app, file_size=FILE_SIZE)
        order, token = factories.make_order(app, pack)
        site.order_id, site.url_path = order.id, pack_url(token, "wav")
        body = app.test_client().get(site.url_path, buffered=True).data
        site.size, site.sha256 = len(body), hashlib.sha256(body).hexdigest()
        db.session.remove()
        db.engine.dispose()
    assert site.size > 5 * FILE_SIZE
    return site


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_gunicorn(site: Site, log: Path, *args: str) -> Server:
    port = free_port()
    env = {**os.environ, "SHOP_BIND": f"127.0.0.1:{port}", "SHOP_ENV": "development",
           "SHOP_SECRET_KEY": "live-test", "SHOP_DATABASE_URL": site.database_url,
           "SHOP_MEDIA_ROOT": str(site.folder / "media")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
             "--workers", "1", "--threads", "4", "--timeout", str(WORKER_TIMEOUT),
             "--graceful-timeout", "1", *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{server.log_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    stop(server)
    raise AssertionError(f"gunicorn did not start:\n{server.log_text()}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def gthread_server(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_gunicorn(site, tmp_path_factory.mktemp("gthread") / "gunicorn.log")
    try:
        yield server
    finally:
        stop(server)


def throttled_get(port: int, path: str, rate: int) -> tuple[bytes, bytes, float]:
    """GET ``path`` reading at most ``rate`` bytes/s with a tiny receive window.

    :returns: ``(head, body, seconds)``; the body is whatever arrived before the server
        finished or closed the connection.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(30)
    started = time.monotonic()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    received = bytearray()
    with sock:
        while True:
            try:
                chunk = sock.recv(16 * 1024)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            ahead = len(received) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    return head, body, time.monotonic() - started


def test_slow_client_outlasts_the_worker_timeout(site: Site, gthread_server: Server) -> None:
    before = site.counts().get(("pack", None, "wav"), 0)
    rate = site.size // (3 * WORKER_TIMEOUT)  # takes about three worker timeouts
    head, body, seconds = throttled_get(gthread_server.port, site.url_path, rate)
    assert head.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {site.size}".encode() in head
    assert seconds > 2 * WORKER_TIMEOUT
    assert len(body) == site.size
    assert hashlib.sha256(body).hexdigest() == site.sha256
    assert "WORKER TIMEOUT" not in gthread_server.log_text()
    assert site.counts().get(("pack", None, "wav"), 0) == before + 1


def test_sync_workers_would_cut_the_same_client_off(site: Site, tmp_path: Path) -> None:
    """The control: the same client against gunicorn's sync worker is killed mid-way,
    so the test above can tell a configuration that works from one that does not."""
    # One thread: with more, gunicorn quietly upgrades "sync" to gthread.
    server = start_gunicorn(site, tmp_path / "sync.log", "--worker-class", "sync", "--threads", "1")
    try:
        # Paced to take twenty worker timeouts: on a busy machine the arbiter may notice the
        # silent worker late, and it must still notice long before the last byte. A passing
        # run ends at the kill (a few seconds), so the wide margin costs nothing.
        rate = site.size // (20 * WORKER_TIMEOUT)
        head, body, _ = throttled_get(server.port, site.url_path, rate)
    finally:
        stop(server)
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) < site.size
    assert "WORKER TIMEOUT" in server.log_text()


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([need_tool("curl"), "--silent", "--show-error", *args],
                          capture_output=True, text=True, timeout=120)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_curl_resumes_an_interrupted_zip(site: Site, gthread_server: Server, tmp_path: Path) -> None:
    url = gthread_server.base_url + site.url_path
    before = site.counts().get(("pack", None, "wav"), 0)

    whole = tmp_path / "whole.zip"
    assert curl("--fail", "-o", str(whole), url).returncode == 0

    resumed = tmp_path / "resumed.zip"
    cut = curl("--fail", "--limit-rate", "2M", "--max-time", "1", "-o", str(resumed), url)
    assert cut.returncode == 28, cut.stderr  # operation timed out: interrupted mid-way
    assert 0 < resumed.stat().st_size < site.size
    # The connection dropped before the last byte: not a download yet.
    assert site.counts().get(("pack", None, "wav"), 0) == before + 1

    again = curl("--fail", "-C", "-", "-o", str(resumed), "-w", "%{http_code}", url)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "206"
    assert resumed.stat().st_size == site.size
    assert sha256_file(resumed) == sha256_file(whole) == site.sha256
    assert site.counts().get(("pack", None, "wav"), 0) == before + 2

    # Downloading once more from the end is answered with a 416, and nothing is lost.
    done = curl("-C", "-", "-o", str(resumed), "-w", "%{http_code}", url)
    assert done.stdout == "416" and sha256_file(resumed) == site.sha256


def test_head_and_range_over_http(site: Site, gthread_server: Server, tmp_path: Path) -> None:
    url = gthread_server.base_url + site.url_path
    head = curl("--head", url)
    assert f"content-length: {site.size}" in head.stdout.lower()
    assert "accept-ranges: bytes" in head.stdout.lower()
    tail = tmp_path / "tail"
    assert curl("--fail", "-r", f"{site.size - 1000}-", "-o", str(tail), url).returncode == 0
    whole = tmp_path / "whole"
    curl("--fail", "-o", str(whole), url)
    assert tail.read_bytes() == whole.read_bytes()[-1000:]
    log = gthread_server.log_text()
    assert "/orders/<token>/pack/wav.zip" in log
    assert site.url_path not in log, "order tokens never reach the access log"


def test_curl_suffix_range_is_the_last_bytes(site: Site, gthread_server: Server, tmp_path: Path) -> None:
    url = gthread_server.base_url + site.url_path
    tail, headers = tmp_path / "tail", tmp_path / "headers"
    result = curl("--fail", "-r", "-500", "-D", str(headers), "-o", str(tail), "-w", "%{http_code}", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "206"
    head = headers.read_text().lower()
    assert f"content-range: bytes {site.size - 500}-{site.size - 1}/{site.size}" in head
    assert "content-length: 500" in head
    whole = tmp_path / "whole"
    assert curl("--fail", "-o", str(whole), url).returncode == 0
    assert sha256_file(whole) == site.sha256
    assert tail.read_bytes() == whole.read_bytes()[-500:]
