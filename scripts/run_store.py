"""``make run``: the whole store on one machine, with demo data, on embedded defaults.

In order: migrate the database; load the demo pack when there are no packs; start Redis
(``SHOP_REDIS_URL``, else a private ``redis-server`` when installed, else an embedded
Redis-protocol server); start the Dropbox emulator with a linked store account (unless
real Dropbox settings are given); start the Stripe emulator with the store's webhook
registered (unless a real Stripe key is given); seed the store's Dropbox; start gunicorn
and an RQ worker. Ctrl-C (or SIGTERM) stops every process this script started. A worker that exits
is started again (after a short back-off); any other process exiting stops the store. A
second run reuses the data under ``instance/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
sys.path.insert(0, str(ROOT))

DEV_APP_KEY = "indiepacks-dev"
DEV_APP_SECRET = "indiepacks-dev-secret"
STORE_EMAIL = "store@indiepacks.local"
# The emulated Stripe account: known values, so `flask orders refund` in another shell can
# use them too (make run prints them).
DEV_STRIPE_KEY = "sk_test_indiepacks_dev"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_indiepacks_dev"
# The Connect endpoint's (artists' Express accounts: account.updated), a separate endpoint as on Stripe.
DEV_STRIPE_CONNECT_WEBHOOK_SECRET = "whsec_indiepacks_dev_connect"


def log(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
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


def wait_for(check, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def http_ok(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except OSError:
        return False


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# A restartable child that exits is started again after this long, doubled each time it
# exits again soon after starting (up to RESTART_MAX), so a crash loop does not spin.
RESTART_FIRST = 1.0
RESTART_MAX = 30.0
RAN_LONG_ENOUGH = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen
    quiet: bool = False
    restart: bool = False
    started_at: float = field(default_factory=time.monotonic)
    delay: float = RESTART_FIRST


class Supervisor:
    """Starts child processes and stops them all, newest first, on exit.

    A child started with ``restart=True`` (the RQ worker) is started again when it exits;
    any other child exiting stops the whole store.
    """

    def __init__(self) -> None:
        self.children: list[Child] = []

    def _spawn(self, argv: list[str], env: dict[str, str], quiet: bool) -> subprocess.Popen:
        output = subprocess.DEVNULL if quiet else None
        return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, stdout=output, stderr=output)

    def start(self, name: str, argv: list[str], env: dict[str, str], quiet: bool = False,
              restart: bool = False) -> subprocess.Popen:
        proc = self._spawn(argv, env, quiet)
        self.children.append(Child(name, argv, env, proc, quiet=quiet, restart=restart))
        return proc

    def first_exited(self) -> tuple[str, int] | None:
        """The first child that exited and is not restarted, if any; restartable ones are restarted."""
        for child in self.children:
            code = child.proc.poll()
            if code is None:
                continue
            if not child.restart:
                return child.name, code
            self.restart(child, code)
        return None

    def restart(self, child: Child, code: int) -> None:
        if time.monotonic() - child.started_at >= RAN_LONG_ENOUGH:
            child.delay = RESTART_FIRST
        log(f"{child.name} exited with status {code}; starting it again in {child.delay:.0f} s")
        time.sleep(child.delay)
        child.proc = self._spawn(child.argv, child.env, child.quiet)
        child.started_at = time.monotonic()
        child.delay = min(child.delay * 2, RESTART_MAX)

    def stop_all(self) -> None:
        """Newest first, each given time to finish, so the worker and the web server stop
        while Redis and the emulator they talk to are still up."""
        for child in reversed(self.children):
            name, proc = child.name, child.proc
            if proc.poll() is not None:
                continue
            log(f"stopping {name}")
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_redis(supervisor: Supervisor, env: dict[str, str]) -> str:
    if env.get("SHOP_REDIS_URL"):
        log(f"using Redis at {env['SHOP_REDIS_URL']}")
        return env["SHOP_REDIS_URL"]
    port = pick_port(6390)
    binary = shutil.which("redis-server")
    if binary:
        supervisor.start("redis-server", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--loglevel", "warning"], env, quiet=True)
        kind = "a private redis-server"
    else:
        supervisor.start("embedded Redis", [sys.executable, "-m", "scripts.embedded_redis", "--port", str(port)],
                         env, quiet=True)
        kind = "an embedded Redis-protocol server (fakeredis; install redis-server for production-like runs)"
    if not wait_for(lambda: tcp_open(port), 15):
        raise RuntimeError("Redis did not start")
    log(f"started {kind} on port {port}")
    return f"redis://127.0.0.1:{port}/0"


def start_emulator(supervisor: Supervisor, env: dict[str, str]) -> str:
    port = pick_port(8765)
    data_dir = INSTANCE / "dropbox-emulator"
    supervisor.start(
        "Dropbox emulator",
        [sys.executable, "-m", "dropbox_emulator", "--host", "127.0.0.1", "--port", str(port),
         "--app", f"{env['SHOP_DROPBOX_APP_KEY']}:{env['SHOP_DROPBOX_APP_SECRET']}:"
                  f"{env.get('SHOP_DROPBOX_APP_FOLDER') or 'Indie Packs'}",
         "--data-dir", str(data_dir)],
        env, quiet=True,
    )
    base = f"http://127.0.0.1:{port}"
    if not wait_for(lambda: http_ok(base + "/home"), 20):
        raise RuntimeError("the Dropbox emulator did not start")
    return base


def link_emulated_store_account(base: str, app_key: str) -> str:
    """Link the store's (emulated) Dropbox account without a browser; returns its refresh token."""
    request = urllib.request.Request(
        base + "/__emulator__/tokens", data=json.dumps({"app_key": app_key, "email": STORE_EMAIL}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["refresh_token"]


def start_stripe_emulator(supervisor: Supervisor, store_url: str) -> str:
    """The local Stripe, with the store's two webhook endpoints registered under known secrets: the
    platform's, and the ``connect=true`` one that hears about artists' Express accounts."""
    port = pick_port(12111)
    supervisor.start(
        "Stripe emulator",
        [sys.executable, "-m", "stripe_emulator", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(INSTANCE / "stripe-emulator"), "--api-key", DEV_STRIPE_KEY,
         "--webhook", f"{store_url}/payments/stripe/webhook", "--webhook-secret", DEV_STRIPE_WEBHOOK_SECRET,
         "--connect-webhook", f"{store_url}/payments/stripe/connect-webhook",
         "--connect-webhook-secret", DEV_STRIPE_CONNECT_WEBHOOK_SECRET],
        dict(os.environ, PYTHONPATH=str(ROOT)), quiet=True,
    )
    base = f"http://127.0.0.1:{port}"
    if not wait_for(lambda: http_ok(base + "/__emulator__/"), 20):
        raise RuntimeError("the Stripe emulator did not start")
    return base


def prepare_catalog(env: dict[str, str], seed: bool) -> threading.Thread | None:
    """Migrate; on an empty catalog, create the demo pack (synthesised FLAC masters, imported)
    and return a started thread that encodes its eight formats and previews in parallel
    processes and then seeds the store's Dropbox, so the web server starts meanwhile (the
    pack shows "coming soon: preparing files" until its files are ready). Otherwise seed here."""
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
            log("empty catalog: creating the demo pack (a few seconds)")
            from shop.catalog.demo import create_demo_pack

            started = time.monotonic()
            report = create_demo_pack(encode=False)
            log(f"demo pack imported in {time.monotonic() - started:.1f} s; encoding its "
                f"{len(report.encode_track_ids)} tracks into every format while the store starts")
            _demo_codes(app)
            _statement_links(app)
            thread = threading.Thread(target=_encode_demo_then_seed, args=(app, report.encode_track_ids, seed),
                                      name="demo-encode", daemon=True)
            thread.start()
            return thread
        log("reusing the catalog and orders in instance/")
        _statement_links(app)
        if seed:
            _seed(app)
    return None


def _demo_codes(app) -> None:
    """A small batch of download codes for the demo pack, printed for /redeem."""
    from shop.codes.batches import create_batch, export_rows
    from shop.extensions import db
    from shop.models import Pack

    pack = db.session.scalar(db.select(Pack).order_by(Pack.id))
    if pack is None:
        return
    batch = create_batch(pack, 3, label="make run demo", created_by="make run")
    db.session.commit()
    codes = [line.split(",")[0] for line in list(export_rows(batch))[1:]]
    log(f"demo download codes for /redeem (one order each): {', '.join(codes)}")


def _statement_links(app) -> None:
    """A fresh statement link for each artist of the first pack (the demo pack's four), printed:
    links are stored hashed, so a new one is minted each start (`flask artists list --links`
    prints them for every artist)."""
    from shop.extensions import db
    from shop.models import Pack
    from shop.statements.cli import fresh_links

    pack = db.session.scalar(db.select(Pack).order_by(Pack.id))
    if pack is None:
        return
    artists = list({album.artist_record.id: album.artist_record
                    for album in sorted(pack.albums, key=lambda a: a.position)}.values())
    urls = fresh_links(artists)
    for artist in artists:
        log(f"statement link for {artist.name}: {urls[artist.id]}")


def _encode_demo_then_seed(app, track_ids: list[int], seed: bool) -> None:
    from shop.catalog.encode_sync import encode_now

    started = time.monotonic()
    with app.app_context():
        summary = encode_now(track_ids)
        log(f"demo pack encoded: {summary.files} files of {summary.tracks} tracks in "
            f"{time.monotonic() - started:.1f} s, {len(summary.failures)} failed; it is on sale now")
        for failure in summary.failures:
            log(f"  encode failed: {failure}")
    if seed:
        _seed(app)


def _seed(app) -> None:
    with app.app_context():
        from shop.dropbox.seed import albums_in_scope, run_seed

        summary = run_seed(albums_in_scope())
        log(f"Dropbox seed: uploaded {summary.uploaded}, skipped {summary.skipped}, "
            f"references minted {summary.references_minted}, failed {summary.failed}")


def main() -> int:
    started = time.monotonic()
    env = dict(os.environ)
    env.setdefault("SHOP_ENV", "development")
    env["PYTHONPATH"] = str(ROOT)
    port = int(env.get("PORT") or pick_port(8000))
    store_url = f"http://127.0.0.1:{port}"
    env.setdefault("SHOP_BASE_URL", store_url)
    env["SHOP_BIND"] = f"127.0.0.1:{port}"
    real_dropbox = bool(env.get("SHOP_DROPBOX_APP_KEY")) and not env.get("SHOP_DROPBOX_API_URL")

    supervisor = Supervisor()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored (a background job)
    try:
        env["SHOP_REDIS_URL"] = start_redis(supervisor, env)
        emulator_url = None
        if real_dropbox:
            log("real Dropbox settings found: not starting the emulator")
        else:
            env.setdefault("SHOP_DROPBOX_APP_KEY", DEV_APP_KEY)
            env.setdefault("SHOP_DROPBOX_APP_SECRET", DEV_APP_SECRET)
            emulator_url = start_emulator(supervisor, env)
            env["SHOP_DROPBOX_API_URL"] = emulator_url
            env["SHOP_DROPBOX_STORE_REFRESH_TOKEN"] = link_emulated_store_account(
                emulator_url, env["SHOP_DROPBOX_APP_KEY"])
        stripe_url = None
        if env.get("SHOP_STRIPE_SECRET_KEY") and not env.get("SHOP_STRIPE_API_URL"):
            env.setdefault("SHOP_PAYMENT_PROVIDER", "stripe")
            log("a real Stripe key found: not starting the Stripe emulator (its webhook cannot reach this "
                "machine; buyers' returns still complete their orders)")
        elif not env.get("SHOP_PAYMENT_PROVIDER") or env["SHOP_PAYMENT_PROVIDER"] == "stripe":
            stripe_url = env.get("SHOP_STRIPE_API_URL") or start_stripe_emulator(supervisor, store_url)
            env.update(SHOP_PAYMENT_PROVIDER="stripe", SHOP_STRIPE_API_URL=stripe_url)
            env.setdefault("SHOP_STRIPE_SECRET_KEY", DEV_STRIPE_KEY)
            env.setdefault("SHOP_STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET)
            env.setdefault("SHOP_STRIPE_CONNECT_WEBHOOK_SECRET", DEV_STRIPE_CONNECT_WEBHOOK_SECRET)
        has_store_account = bool(env.get("SHOP_DROPBOX_STORE_REFRESH_TOKEN")) or not real_dropbox
        prepare_catalog(env, seed=has_store_account)

        supervisor.start("gunicorn", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                                      "wsgi:app"], env)
        # The worker survives Redis outages itself; should it still exit, it is started again.
        supervisor.start("RQ worker", [sys.executable, "-m", "flask", "--app", "shop", "worker"], env, restart=True)
        # A busy machine (other builds on the same cores) can take a minute to boot gunicorn's
        # workers and answer their first request: wait for that rather than give up.
        if not wait_for(lambda: http_ok(store_url + "/", timeout=15), 120):
            log("the web server did not come up; see the messages above")
            return 1
        log(f"ready in {time.monotonic() - started:.1f} s")
        log(f"the store:            {store_url}/")
        if emulator_url:
            log(f"the emulated Dropbox: {emulator_url}/home")
        if stripe_url:
            log(f"the emulated Stripe:   {stripe_url}/__emulator__/ (pay with 4242 4242 4242 4242; "
                "4000 0000 0000 0002 is declined)")
            log(f"refunds from another shell: SHOP_PAYMENT_PROVIDER=stripe SHOP_STRIPE_API_URL={stripe_url} "
                f"SHOP_STRIPE_SECRET_KEY={env['SHOP_STRIPE_SECRET_KEY']} .venv/bin/flask --app shop orders refund 12")
        log(f"download codes:       {store_url}/redeem (demo codes above; make more at {store_url}/admin/codes)")
        log(f"artists' statements:  the links above (a buyer's payment shows up there); the artists at "
            f"{store_url}/admin/artists; more links with `.venv/bin/flask --app shop artists list --links`")
        log("the list:             every pack page has \"Tell me about the next pack\"; the confirmation link is in "
            "the mail, then `flask --app shop mailing announce --pack demo-pack`")
        log("mail is written to instance/outbox/ as .eml files. Press Ctrl-C to stop everything.")
        while True:
            exited = supervisor.first_exited()
            if exited:
                name, code = exited
                log(f"{name} exited with status {code}; stopping the rest")
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
