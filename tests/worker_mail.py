"""Fixtures for tests of mail sent by real worker processes: a real SMTP server and the app's
settings for it (import them into a test module; ``redis_server`` and ``start_worker`` come
from :mod:`tests.fixtures`)."""

from __future__ import annotations

import pytest
import redis
from cryptography.fernet import Fernet

from tests.smtp import running_smtp_server


@pytest.fixture
def smtp():
    with running_smtp_server() as served:
        yield served


@pytest.fixture
def app_overrides(redis_server, smtp):
    redis.Redis.from_url(redis_server.url).flushdb()
    return {"REDIS_URL": redis_server.url, "MAIL_URL": smtp[0], "MAIL_RATE": 20.0, "ANNOUNCE_STALE_SECONDS": 2,
            "TOKEN_KEYS": Fernet.generate_key().decode()}
