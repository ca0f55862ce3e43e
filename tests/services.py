"""Real services for tests: a private redis-server and the store's worker as processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The Dropbox app and the store's account in the emulator, for tests and benchmarks.
APP_KEY = "indiepacks-key"
APP_SECRET = "indiepacks-secret"
STORE_EMAIL = "store@indiepacks.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, persisting nothing."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = shutil.which("redis-server")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="shop-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        if self.binary is None:
            raise RuntimeError("redis-server is not installed (scripts/install_system_deps.sh installs it)")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if not wait_until(self._answers, timeout=10):
            self.stop()
            raise RuntimeError("redis-server did not start")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class WorkerProcess:
    """``flask --app shop worker`` as a child process, configured through ``SHOP_*`` variables."""

    def __init__(self, env: Mapping[str, str], burst: bool = False, log_path: Path | None = None) -> None:
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.argv = [sys.executable, "-m", "flask", "--app", "shop", "worker"] + (["--burst"] if burst else [])
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self) -> WorkerProcess:
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, no chance to clean up: what an OOM killer or a pulled plug does."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()


def worker_env(app) -> dict[str, str]:
    """The same configuration as ``app``, as ``SHOP_*`` variables for a worker process (a setting
    that is None is left out: the worker falls back to its default, as ``app`` did)."""
    config = app.config
    names = ("SECRET_KEY", "MEDIA_ROOT", "OUTBOX_DIR", "REDIS_URL", "BASE_URL", "DROPBOX_APP_KEY", "DROPBOX_APP_SECRET",
             "DROPBOX_API_URL", "DROPBOX_STORE_REFRESH_TOKEN", "TOKEN_KEYS", "DELIVERY_STALE_SECONDS", "MAIL_URL",
             "MAIL_RATE", "ANNOUNCE_STALE_SECONDS", "ANNOUNCE_WITHIN_HOURS")
    env = {"SHOP_ENV": "testing", "SHOP_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"]}
    env.update({f"SHOP_{name}": str(config[name]) for name in names if config.get(name) is not None})
    return env
