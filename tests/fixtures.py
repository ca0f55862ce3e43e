"""Fixtures that tests in several folders share, one meaning per name (a pytest plugin:
``tests/conftest.py`` loads it with ``pytest_plugins``, so every test module may ask for them).

* ``redis_server``: a private ``redis-server`` for the whole run (skipped where there is none);
  a test that needs it empty flushes it (e.g. in its folder's ``app_overrides``).
* ``smtp_server``: ``(controller, inbox)`` of a real SMTP server on a free port; the test
  points ``MAIL_URL`` at it. ``inbox``: the same, with ``app``'s ``MAIL_URL`` already pointing
  at it, yielding only the inbox.
* ``store_port`` / ``store_server``: the store itself on a loopback port (the one a folder's
  ``app_overrides`` writes into ``BASE_URL``), for callers that need real HTTP: Dropbox's
  save_url fetches, Stripe's webhooks.
* ``start_worker``: ``start_worker(burst=False)`` starts a worker process configured like
  ``app`` (:func:`tests.services.worker_env`); every one is stopped at the end of the test.

Folder-specific set-ups (a Dropbox or Stripe emulator, seeded packs, the operator console)
stay in their folder's ``conftest.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from emulator_common import ServerThread
from shop.extensions import db
from tests.services import RedisServer, WorkerProcess, free_port, worker_env
from tests.smtp import Inbox, running_smtp_server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the run (skipped where redis-server is not installed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    """``(controller, inbox)``: a real SMTP server (aiosmtpd) on a free loopback port."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    """What a real SMTP server receives from ``app``, whose ``MAIL_URL`` points at it."""
    with running_smtp_server() as (url, received):
        app.config["MAIL_URL"] = url
        yield received


@pytest.fixture
def store_port() -> int:
    return free_port()


@pytest.fixture
def store_server(app: Flask, store_port: int) -> Iterator[ServerThread]:
    """The store itself on a loopback port (the URL in ``BASE_URL``)."""
    server = ServerThread(app, port=store_port).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_worker(app: Flask, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes on demand; every one is stopped at the end of the test."""
    workers: list[WorkerProcess] = []

    def start(burst: bool = False) -> WorkerProcess:
        worker = WorkerProcess(worker_env(app), burst=burst, log_path=tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker.start())
        return worker

    yield start
    for worker in workers:
        worker.stop()
    db.session.remove()
