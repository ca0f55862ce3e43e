"""Fixtures for tests of mail sent by real worker processes: a private Redis, a real SMTP
server, and workers started with the app's settings (import them into a test module)."""

from __future__ import annotations

import shutil

import pytest
import redis
from cryptography.fernet import Fernet

from shop.extensions import db
from tests.services import RedisServer, WorkerProcess
from tests.smtp import running_smtp_server


@pytest.fixture(scope="module")
def redis_server():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp():
    with running_smtp_server() as served:
        yield served


@pytest.fixture
def app_overrides(redis_server, smtp):
    redis.Redis.from_url(redis_server.url).flushdb()
    return {"REDIS_URL": redis_server.url, "MAIL_URL": smtp[0], "MAIL_RATE": 20.0, "ANNOUNCE_STALE_SECONDS": 2,
            "TOKEN_KEYS": Fernet.generate_key().decode()}


@pytest.fixture
def start_worker(app, tmp_path):
    workers: list[WorkerProcess] = []

    def start(burst: bool = False) -> WorkerProcess:
        env = {"SHOP_ENV": "testing", "SHOP_SECRET_KEY": app.config["SECRET_KEY"],
               "SHOP_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SHOP_MEDIA_ROOT": app.config["MEDIA_ROOT"],
               "SHOP_REDIS_URL": app.config["REDIS_URL"], "SHOP_BASE_URL": app.config["BASE_URL"],
               "SHOP_MAIL_URL": app.config["MAIL_URL"], "SHOP_MAIL_RATE": str(app.config["MAIL_RATE"]),
               "SHOP_ANNOUNCE_STALE_SECONDS": str(app.config["ANNOUNCE_STALE_SECONDS"]),
               "SHOP_ANNOUNCE_WITHIN_HOURS": str(app.config["ANNOUNCE_WITHIN_HOURS"]),
               "SHOP_TOKEN_KEYS": app.config["TOKEN_KEYS"]}
        worker = WorkerProcess(env, burst=burst, log_path=tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker.start())
        return worker

    yield start
    for worker in workers:
        worker.stop()
    db.session.remove()


