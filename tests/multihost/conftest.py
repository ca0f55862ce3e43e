"""The store across four hosts (network namespaces on one bridge), as docs/deploy.md runs it.

``data`` (.10): PostgreSQL, Redis, moto's S3 server, the Dropbox and Stripe emulators.
``web`` (.20): gunicorn behind nginx, local media handed to nginx with ``X-Accel-Redirect``.
``worker1`` (.31), ``worker2`` (.32): one ``flask --app shop worker`` each, media from S3.
The test process is on the bridge (.1): the buyers' browser and the operator's shell.

Outside CI the tests skip when this machine cannot make namespaces (not root, no ``ip``) or
lacks nginx, redis-server or PostgreSQL; in CI (``CI`` set) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.multihost import netns, services

APP_KEY = "indiepacks-multihost"
APP_SECRET = "indiepacks-multihost-secret"
APP_FOLDER = "Indie Packs"
STORE_EMAIL = "store@indiepacks.test"
STRIPE_KEY = "sk_test_indiepacks_multihost"
WEBHOOK_SECRET = "whsec_indiepacks_multihost"
BUCKET = "indiepacks-media"
PACK = "across-hosts"
# Short enough for a CI run: a worker silent this long is taken over. The Dropbox call
# timeout is then 4.5 s (just under half of it, see shop/config.py); the test makes each
# emulated copy_reference/save take 2 s.
STALE_SECONDS = 10
# A delivery saves one store folder per album (the fast path): four albums make it last.
ALBUMS = {"Namespaces": ["Ether", "Copper"], "Veth Pairs": ["Fibre", "Switch"],
          "Bridges": ["Relay", "Patch"], "Link Down": ["Carrier", "Lost"]}
TRACKS = [title for titles in ALBUMS.values() for title in titles]


def _missing_parts() -> str | None:
    reason = netns.unavailable_reason()
    if reason:
        return reason
    for binary in ("nginx", "redis-server", "ss", "runuser"):
        if shutil.which(binary) is None:
            return f"needs {binary} (scripts/install_system_deps.sh installs it)"
    if services.PG_BIN is None:
        return "needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
def multihost_ready() -> None:
    reason = _missing_parts()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"multihost test cannot run in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Store:
    """The running store: its hosts, the settings every part shares, its processes."""

    run_dir: Path
    network: netns.Network
    hosts: dict[str, netns.Host]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> str:
        return self.hosts["data"].address

    @property
    def base_url(self) -> str:
        return f"http://{self.hosts['web'].address}"

    @property
    def dropbox_url(self) -> str:
        return f"http://{self.data}:{services.PORTS['dropbox']}"

    @property
    def stripe_url(self) -> str:
        return f"http://{self.data}:{services.PORTS['stripe']}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@{self.data}:{services.PORTS['postgres']}/shop"

    @property
    def media(self) -> Path:
        return self.run_dir / "media"

    def log(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def web_env(self) -> dict[str, str]:
        web = self.hosts["web"]
        return services.clean_env({
            **self.env, "SHOP_STORAGE": "local", "SHOP_MEDIA_ROOT": str(self.media),
            "SHOP_X_ACCEL_REDIRECT": "/protected-media/", "SHOP_TRUST_PROXY": "1",
            "SHOP_BIND": f"{web.address}:{services.PORTS['gunicorn']}", "WEB_CONCURRENCY": "2",
            "SHOP_THREADS": "8",
        })

    def worker_env(self, name: str) -> dict[str, str]:
        return services.clean_env({
            **self.env, "SHOP_STORAGE": "s3", "SHOP_S3_BUCKET": BUCKET,
            "SHOP_S3_ENDPOINT_URL": f"http://{self.data}:{services.PORTS['s3']}",
            "SHOP_MEDIA_ROOT": str(self.run_dir / f"media-{name}"),
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        })

    def start(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self.processes[name] = process

    def stop(self, name: str) -> None:
        netns.stop(self.processes.get(name))

    def stop_redis(self) -> None:
        """Stop the data host's redis-server: every job and registry in it is gone."""
        self.stop("redis")

    def start_redis(self) -> None:
        """Start redis-server again, empty, on the same address."""
        self.start("redis", services.start_redis(self.hosts["data"], self.run_dir / "redis", self.log("redis")))

    def stop_all(self) -> None:
        """Newest first, so workers and the web stop while the services they use are still up."""
        for name in reversed(list(self.processes)):
            netns.stop(self.processes[name])


def _link_store_account(store: Store) -> str:
    import requests

    answer = requests.post(f"{store.dropbox_url}/__emulator__/tokens",
                           json={"app_key": APP_KEY, "email": STORE_EMAIL}, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["refresh_token"])


def _mirror_media_to_s3(store: Store) -> int:
    """Copy the imported media into the bucket under the same keys (the workers read S3)."""
    import boto3

    client = boto3.session.Session().client(
        "s3", endpoint_url=f"http://{store.data}:{services.PORTS['s3']}", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    count = 0
    for path in store.media.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), BUCKET, path.relative_to(store.media).as_posix())
            count += 1
    return count


@pytest.fixture(scope="module")
def store(multihost_ready: None, request: pytest.FixtureRequest) -> Iterator[Store]:
    """Every part of the store running on its own host; everything is removed afterwards."""
    from cryptography.fernet import Fernet

    netns.remove_leftovers()
    run_dir = Path(tempfile.mkdtemp(prefix="shop-multihost-"))
    run_dir.chmod(0o755)  # nginx's workers and postgres run as other users
    (run_dir / "logs").mkdir()
    network = netns.Network.create()
    store = Store(run_dir, network, {})
    try:
        for name, octet in (("data", 10), ("web", 20), ("worker1", 31), ("worker2", 32)):
            store.hosts[name] = network.add_host(name, octet)
        data, web = store.hosts["data"], store.hosts["web"]
        subnet = str(network.subnet)

        store.start("postgres", services.start_postgres(data, run_dir / "pg", store.log("postgres"), subnet))
        store.start("redis", services.start_redis(data, run_dir / "redis", store.log("redis")))
        store.start("s3", services.start_s3(data, store.log("s3")))
        store.start("dropbox", services.start_dropbox_emulator(data, f"{APP_KEY}:{APP_SECRET}:{APP_FOLDER}",
                                                               store.log("dropbox")))
        store.start("stripe", services.start_stripe_emulator(
            data, STRIPE_KEY, f"{store.base_url}/payments/stripe/webhook", WEBHOOK_SECRET, store.log("stripe")))

        store.env = {
            "SHOP_ENV": "development",
            "SHOP_SECRET_KEY": os.urandom(32).hex(),
            "SHOP_BASE_URL": store.base_url,
            "SHOP_DATABASE_URL": f"postgresql+psycopg://postgres@{store.data}:{services.PORTS['postgres']}/shop",
            "SHOP_REDIS_URL": f"redis://{store.data}:{services.PORTS['redis']}/0",
            "SHOP_OUTBOX_DIR": str(run_dir / "outbox"),
            "SHOP_PAYMENT_PROVIDER": "stripe",
            "SHOP_STRIPE_SECRET_KEY": STRIPE_KEY,
            "SHOP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SHOP_STRIPE_API_URL": store.stripe_url,
            "SHOP_DROPBOX_APP_KEY": APP_KEY,
            "SHOP_DROPBOX_APP_SECRET": APP_SECRET,
            "SHOP_DROPBOX_APP_FOLDER": APP_FOLDER,
            "SHOP_DROPBOX_API_URL": store.dropbox_url,
            "SHOP_DROPBOX_STORE_REFRESH_TOKEN": _link_store_account(store),
            "SHOP_TOKEN_KEYS": Fernet.generate_key().decode(),
            "SHOP_DELIVERY_STALE_SECONDS": str(STALE_SECONDS),
        }

        # The operator: migrate and import on the web host (local media, for nginx), copy the
        # media to S3, seed the store's Dropbox from a worker host (reading S3).
        services.flask(web, store.web_env(), "db", "upgrade")
        for album, titles in ALBUMS.items():
            services.write_album(run_dir / "masters" / album, "Loopback Choir", album, titles)
        services.flask(web, store.web_env(), "catalog", "import", str(run_dir / "masters"), "--pack", PACK,
                       "--title", "Across Hosts", "--min", "1.00", "--suggested", "5.00", "--sync",
                       "--workers", "2", timeout=300)
        _mirror_media_to_s3(store)
        services.flask(store.hosts["worker1"], store.worker_env("worker1"), "dropbox", "seed", "--pack", PACK)

        store.start("gunicorn", services.start_gunicorn(web, store.web_env(), store.log("gunicorn")))
        store.start("nginx", services.start_nginx(web, run_dir / "nginx", store.media, store.log("nginx")))
        for name in ("worker1", "worker2"):
            store.start(name, services.start_worker(store.hosts[name], store.worker_env(name), store.log(name)))
        yield store
    finally:
        store.stop_all()
        network.remove()
        failed = any(getattr(getattr(item, f"rep_{when}", None), "failed", False)
                     for item in request.session.items if item.module is request.module
                     for when in ("setup", "call"))
        if failed or os.environ.get("MULTIHOST_KEEP"):
            for log in sorted((run_dir / "logs").glob("*.log")):
                print(f"---- {log.name} (last lines) ----")
                print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        if os.environ.get("MULTIHOST_KEEP"):
            print(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
