"""The pieces both emulators share: the clock, the JSON state file, the threaded server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from emulator_common import Clock, JsonStateFile, ServerThread, install_request_ids, json_response


def test_clock_moves_forward_only() -> None:
    clock = Clock()
    start = clock.now()
    assert abs(start - time.time()) < 1
    assert clock.advance(90) == 90
    assert clock.timestamp() >= int(time.time()) + 89
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.reset()
    assert clock.offset == 0


def test_json_state_file_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    state = JsonStateFile(tmp_path / "deep" / "state.json")
    assert state.load() is None
    state.save({"sessions": {"cs_test_1": {"status": "open"}}})
    state.save({"sessions": {"cs_test_1": {"status": "complete"}}})
    assert state.load() == {"sessions": {"cs_test_1": {"status": "complete"}}}
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["state.json"]


def test_server_thread_json_and_request_ids() -> None:
    app = Flask(__name__)
    install_request_ids(app, "Request-Id", lambda: "req_fixed")

    @app.get("/thing")
    def thing() -> object:
        return json_response({"ok": True}, 201, {"Request-Id": "req_own"})

    @app.get("/other")
    def other() -> object:
        return json_response([1, 2])

    with ServerThread(app) as server, requests.Session() as web:
        web.trust_env = False
        first = web.get(f"{server.base_url}/thing", timeout=10)
        assert first.status_code == 201
        assert first.headers["Content-Type"] == "application/json"
        assert first.headers["Request-Id"] == "req_own"
        second = web.get(f"{server.base_url}/other", timeout=10)
        assert json.loads(second.content) == [1, 2]
        assert second.headers["Request-Id"] == "req_fixed"
