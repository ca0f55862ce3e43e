"""``make run`` (scripts/run_store.py): its supervisor restarts a worker that exits and stops for
anything else (security review M4)."""

from __future__ import annotations

from tests.services import wait_until


def test_make_run_restarts_a_worker_that_exits_and_stops_for_anything_else(monkeypatch):
    import os
    import sys

    from scripts import run_store

    monkeypatch.setattr(run_store, "RESTART_FIRST", 0.1)
    supervisor = run_store.Supervisor()
    env = dict(os.environ)
    try:
        worker = supervisor.start("RQ worker", [sys.executable, "-c", "raise SystemExit(3)"], env, restart=True)
        web = supervisor.start("gunicorn", [sys.executable, "-c", "import time; time.sleep(30)"], env)
        assert worker.wait(timeout=10) == 3
        assert supervisor.first_exited() is None  # restarted, not fatal
        restarted = supervisor.children[0].proc
        assert restarted.pid != worker.pid
        web.terminate()
        web.wait(timeout=10)
        assert wait_until(lambda: supervisor.first_exited() == ("gunicorn", web.returncode), timeout=10)
    finally:
        supervisor.stop_all()
