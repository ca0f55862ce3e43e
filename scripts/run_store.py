"""``make run``: the whole store on one machine, with demo data, on embedded defaults.

Steps: migrate the database, load the demo pack when there are no packs, then start
gunicorn and wait. Ctrl-C (or SIGTERM) stops every process this script started. A second
run reuses the data under ``instance/``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int) -> int:
    for port in range(preferred, preferred + 50):
        if port_is_free(port):
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class Supervisor:
    """Starts child processes and stops them all, in reverse order, on exit."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)
        self.children.append((name, proc))
        return proc

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.children:
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self) -> None:
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                log(f"stopping {name}")
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def prepare_database(env: dict[str, str]) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    os.environ.update(env)
    from shop import create_app
    from shop.extensions import db
    from shop.models import Pack

    app = create_app()
    with app.app_context():
        upgrade()
        if db.session.scalar(select(func.count(Pack.id))) == 0:
            log("empty catalog: creating the demo pack (takes a few seconds)")
            from shop.catalog.demo import create_demo_pack

            create_demo_pack()
        else:
            log("reusing the existing catalog and orders in instance/")


def main() -> int:
    env = dict(os.environ)
    env.setdefault("SHOP_ENV", "development")
    port = int(env.get("PORT") or pick_port(8000))
    base_url = f"http://127.0.0.1:{port}"
    env.setdefault("SHOP_BASE_URL", base_url)
    env["SHOP_BIND"] = f"127.0.0.1:{port}"

    prepare_database(env)

    supervisor = Supervisor()

    def handle_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handle_signal)
    try:
        supervisor.start(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
            env,
        )
        if not wait_for_http(base_url + "/"):
            log("the web server did not come up; see the messages above")
            return 1
        log(f"the store is open at {base_url}/")
        log("mail goes to instance/outbox/ as .eml files; press Ctrl-C to stop everything")
        while True:
            exited = supervisor.first_exited()
            if exited:
                name, code = exited
                log(f"{name} exited with status {code}; stopping")
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
