"""The worker's background sweep while the database is unreachable: one warning, no traceback."""

from __future__ import annotations

import logging
import threading

import pytest

from shop import create_app, worker


def test_the_sweep_logs_one_line_while_the_database_is_unreachable(
    app_config: dict, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1 on loopback refuses connections at once: a database host that is down.
    app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://shop@127.0.0.1:1/shop",
                      "REDIS_URL": "redis://127.0.0.1:1/0"})
    monkeypatch.setattr(worker, "SWEEP_EVERY", 0.01)
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    with caplog.at_level(logging.INFO, logger="shop.worker"):
        worker._sweeper(app, stop)
    timer.join()

    records = [r for r in caplog.records if r.name == "shop.worker"]
    assert records, "the sweep ran and said something"
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in records)
    assert all("database unavailable" in r.getMessage() for r in records)
