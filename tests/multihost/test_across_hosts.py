"""Launch day across hosts: three buyers pay through Stripe, connect Dropbox and get the whole pack
delivered while a worker loses its network and Redis restarts; nginx hands single tracks off.

Everything goes through the store's public interfaces over the namespaces' links: pages and
JSON through nginx, the emulators' pages and control APIs, the ``flask`` CLI, ``SHOP_*``
settings. The database is only read, to check that no order is lost and who ran what.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import psycopg
import pytest
import requests

from tests.multihost.conftest import APP_KEY, PACK, STALE_SECONDS, TRACKS, Store

pytestmark = [pytest.mark.slow, pytest.mark.multihost, pytest.mark.timeout(600)]

FORMAT = "flac"
SAVE_LATENCY_MS = 2000  # per files/copy_reference/save, one per album: a pack takes about 8 s
SUCCESS_CARD = "4242424242424242"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """One buyer's browser: cookies, redirects followed by hand, forms with their CSRF token."""

    def __init__(self, store: Store, email: str) -> None:
        self.store = store
        self.email = email
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.get(urljoin(self.store.base_url, url), allow_redirects=False, timeout=30, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.http.post(urljoin(self.store.base_url, url), allow_redirects=False, timeout=30, **kwargs)

    def csrf(self, page: requests.Response) -> str:
        match = CSRF.search(page.text)
        assert match, page.text[:500]
        return match.group(1)

    def buy(self, amount: str = "5.00") -> str:
        """Pay on the Stripe emulator; returns the order token the store sends the browser to."""
        page = self.get(f"/packs/{PACK}")
        assert page.status_code == 200, page.text[:500]
        started = self.post(f"/packs/{PACK}/buy",
                            data={"amount": amount, "email": self.email, "csrf_token": self.csrf(page)})
        assert started.status_code == 303, started.text[:500]
        pay_page = started.headers["Location"]
        assert pay_page.startswith(f"{self.store.stripe_url}/c/pay/cs_test_"), pay_page
        session_id = pay_page.rsplit("/", 1)[1]
        paid = requests.post(f"{self.store.stripe_url}/__emulator__/checkout/sessions/{session_id}/pay",
                             json={"card": SUCCESS_CARD}, timeout=30).json()
        assert paid["paid"], paid
        back = self.get(paid["redirect"])
        assert back.status_code == 303, back.text[:500]
        order_url = urlsplit(back.headers["Location"]).path
        assert order_url.startswith("/orders/"), order_url
        page = self.get(order_url)
        assert page.status_code == 200
        return order_url.rsplit("/", 1)[1]

    def connect_dropbox(self, token: str) -> None:
        """Press Connect, allow on the emulator's consent page, come back through the callback."""
        page = self.get(f"/orders/{token}")
        started = self.post(f"/orders/{token}/dropbox/connect", data={"csrf_token": self.csrf(page)})
        assert started.status_code in (302, 303), started.text[:500]
        authorize = started.headers["Location"]
        assert authorize.startswith(f"{self.store.dropbox_url}/oauth2/authorize?"), authorize
        parts = urlsplit(authorize)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        consent = self.http.post(f"{parts.scheme}://{parts.netloc}{parts.path}",
                                 data={**params, "email": self.email, "decision": "allow"},
                                 allow_redirects=False, timeout=30)
        assert consent.status_code in (302, 303), consent.text[:500]
        callback = consent.headers["Location"]
        assert callback.startswith(f"{self.store.base_url}/dropbox/callback?"), callback
        back = self.get(callback)
        assert back.status_code == 303, back.text[:500]

    def add_pack_to_dropbox(self, token: str, queue_down: bool = False) -> int:
        """Press Add to Dropbox for the whole pack. With the queue down the store still saves the
        delivery and says it will start by itself (503)."""
        page = self.get(f"/orders/{token}")
        started = self.post(f"/orders/{token}/dropbox/pack", data={"format": FORMAT, "csrf_token": self.csrf(page)},
                            headers={"Accept": "application/json"})
        if queue_down:
            assert started.status_code == 503, started.text[:500]
            assert started.json()["delivery"]["status"] == "queued", started.text[:500]
            return int(started.json()["delivery"]["id"])
        assert started.status_code == 202, started.text[:500]
        return int(started.json()["id"])

    def progress(self, token: str, delivery_id: int) -> dict[str, Any]:
        answer = self.get(f"/orders/{token}/dropbox/deliveries/{delivery_id}", headers={"Accept": "application/json"})
        assert answer.status_code == 200, answer.text[:500]
        return dict(answer.json())


@dataclass
class Watch:
    """The progress JSON polled through nginx in the background, as the order page does."""

    browser: Browser
    token: str
    delivery_id: int
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.browser.progress(self.token, self.delivery_id)))
            except (requests.RequestException, AssertionError) as exc:
                self.errors.append(repr(exc))
            self.stop.wait(0.25)

    def latest(self) -> dict[str, Any]:
        return self.samples[-1][1] if self.samples else {}

    def wait_for(self, check: Any, timeout: float, what: str) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.samples and check(self.latest()):
                return time.monotonic()
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout:.0f} s; last progress {self.latest()}")

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def assert_truthful(self) -> None:
        """Never ``done`` before every file is there; the count never goes back; the end is done."""
        assert not self.errors, self.errors[:5]
        last_done = 0
        for _, sample in self.samples:
            assert sample["status"] in ("queued", "running", "done"), sample
            assert sample["done"] >= last_done, sample
            last_done = sample["done"]
            if sample["status"] == "done":
                assert sample["done"] == sample["total"], sample
            else:
                assert sample["done"] < sample["total"] or sample["status"] == "running", sample
        final = self.latest()
        assert final["status"] == "done" and final["done"] == final["total"] == len(TRACKS), final
        assert final["error"] is None, final


def query(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(store.database_url, connect_timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def running_on(store: Store, delivery_id: int) -> str:
    """Which worker host holds the delivery's claim (the claim names ``hostname:pid:...``; the
    namespaces share one hostname, so the pid tells them apart)."""
    worker = query(store, "select worker from deliveries where id = %s", delivery_id)[0][0] or ""
    names = [name for name in ("worker1", "worker2") if f":{store.processes[name].pid}:" in worker]
    assert len(names) == 1, worker
    return names[0]


def dropbox_content_hash(data: bytes) -> str:
    """Dropbox's content hash: SHA-256 over the SHA-256 of each 4 MiB block."""
    blocks = [hashlib.sha256(data[i:i + 4 * 1024 * 1024]).digest() for i in range(0, len(data), 4 * 1024 * 1024)]
    return hashlib.sha256(b"".join(blocks)).hexdigest()


def files_in_dropbox(store: Store, email: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{store.dropbox_url}/__emulator__/accounts/{email}/files", params={"app_key": APP_KEY},
                          timeout=30)
    answer.raise_for_status()
    return list(answer.json())


def set_save_latency(store: Store, ms: int) -> None:
    requests.post(f"{store.dropbox_url}/__emulator__/latency",
                  json={"ms": ms, "route": "files/copy_reference/save"}, timeout=10).raise_for_status()


def test_launch_day_across_hosts(store: Store) -> None:
    timings: dict[str, float] = {}
    # Every service listens on its own host's address, never on all addresses or loopback.
    for name, host in store.hosts.items():
        for address in host.listening():
            assert address.rsplit(":", 1)[0] == host.address, (name, address)
    assert sorted(p.rsplit(":", 1)[1] for p in store.hosts["data"].listening()) == ["12111", "5000", "5432",
                                                                                  "6379", "8765"]
    assert sorted(p.rsplit(":", 1)[1] for p in store.hosts["web"].listening()) == ["80", "8000"]
    set_save_latency(store, SAVE_LATENCY_MS)

    # 1. A buyer pays through Stripe, connects Dropbox and adds the whole pack.
    first = Browser(store, "first-buyer@example.com")
    first_token = first.buy()
    first.connect_dropbox(first_token)
    first_delivery = first.add_pack_to_dropbox(first_token)
    watch = Watch(first, first_token, first_delivery)

    # 2. Once an album has landed, the worker running the delivery loses its network.
    watch.wait_for(lambda p: p["status"] == "running" and p["done"] >= 2, 60, "first delivery under way")
    victim = running_on(store, first_delivery)
    survivor = "worker2" if victim == "worker1" else "worker1"
    done_at_cut = watch.latest()["done"]
    assert done_at_cut < len(TRACKS)
    cut = time.monotonic()
    store.hosts[victim].link_down()
    try:
        stalled_at = watch.wait_for(lambda p: p["stalled"] or p["done"] > done_at_cut, 60,
                                    "the page tells the delivery is paused, or another worker moves it")
        taken_over_at = watch.wait_for(lambda p: p["done"] > done_at_cut, 60, "another worker moves it on")
        assert running_on(store, first_delivery) == survivor
    finally:
        store.hosts[victim].link_up()
    relinked = time.monotonic()
    finished_at = watch.wait_for(lambda p: p["status"] == "done", 90, "first delivery done")
    watch.finish()
    watch.assert_truthful()
    timings.update(stalled_after_cut=stalled_at - cut, taken_over_after_cut=taken_over_at - cut,
                   done_after_cut=finished_at - cut, done_after_relink=finished_at - relinked)
    stalled_samples = [s for _, s in watch.samples if s["stalled"]]
    assert all(s["notice"] for s in stalled_samples)

    # 3. A second buyer's delivery runs while the data host's Redis restarts (its jobs are lost);
    #    a third buyer clicks while Redis is down: the delivery waits in PostgreSQL.
    second = Browser(store, "second-buyer@example.com")
    second_token = second.buy("7.50")
    second.connect_dropbox(second_token)
    third = Browser(store, "third-buyer@example.com")
    third_token = third.buy("1.00")
    third.connect_dropbox(third_token)
    second_delivery = second.add_pack_to_dropbox(second_token)
    watch = Watch(second, second_token, second_delivery)
    watch.wait_for(lambda p: p["status"] == "running" and p["done"] >= 2, 60, "second delivery under way")
    stopped = time.monotonic()
    store.stop_redis()
    third_delivery = third.add_pack_to_dropbox(third_token, queue_down=True)
    third_watch = Watch(third, third_token, third_delivery)
    time.sleep(max(0.0, stopped + 3 - time.monotonic()))
    store.start_redis()
    restarted = time.monotonic()
    finished_at = watch.wait_for(lambda p: p["status"] == "done", 120, "second delivery done after Redis restarted")
    third_finished_at = third_watch.wait_for(lambda p: p["status"] == "done", 120,
                                             "a delivery asked for while Redis was down, done once it is back")
    for each in (watch, third_watch):
        each.finish()
        each.assert_truthful()
    timings.update(redis_down=restarted - stopped, second_done_after_redis_back=finished_at - restarted,
                   third_done_after_redis_back=third_finished_at - restarted)

    # The cut worker came back and wrote nothing more: give its hanging calls time to return.
    time.sleep(STALE_SECONDS)
    for name in ("worker1", "worker2"):
        assert store.processes[name].poll() is None, f"{name} exited"

    # 4. Every file exactly once in each buyer's Dropbox, with the pack's content.
    pack_hashes: set[str] = set()
    for browser, token in ((first, first_token), (second, second_token), (third, third_token)):
        page = browser.get(f"/orders/{token}?format={FORMAT}")  # the page's links are in one format
        track_links = sorted(set(re.findall(rf"/orders/{token}/tracks/\d+/{FORMAT}", page.text)))
        assert len(track_links) == len(TRACKS), track_links
        expected = {}
        for link in track_links:
            download = browser.get(link)
            assert download.status_code == 200, download.text[:300]
            assert "X-Accel-Redirect" not in download.headers  # nginx consumed it
            expected[dropbox_content_hash(download.content)] = download
        pack_hashes.update(expected)
        landed = files_in_dropbox(store, browser.email)
        paths = [f["path_display"] for f in landed]
        assert len(paths) == len(set(paths)) == len(TRACKS), paths
        assert not [p for p in paths if re.search(r"\(\d+\)", p)], paths
        assert sorted(f["content_hash"] for f in landed) == sorted(expected), (paths, list(expected))
        names = {p.rsplit("/", 1)[1] for p in paths}
        assert all(any(t in n for t in TRACKS) for n in names), names
        assert len(names) == len(TRACKS) and all(n.endswith(f".{FORMAT}") for n in names), names

    # No order lost: both paid in the database.
    orders = query(store, "select email, status from orders order by id")
    assert sorted(orders) == [(b.email, "paid") for b in (first, second, third)], orders
    assert [s for (s,) in query(store, "select status from deliveries order by id")] == ["done"] * 3

    # nginx sent the single tracks itself, from the media folder, after the store's X-Accel-Redirect.
    handed_off = [line for line in (store.run_dir / "nginx" / "access.log").read_text().splitlines()
                  if "/tracks/" in line and "uri=/protected-media/" in line and '" 200 ' in line]
    assert len(handed_off) >= 3 * len(TRACKS), handed_off[:3]
    for line in handed_off:
        key = line.rsplit("uri=/protected-media/", 1)[1]
        size = int(line.split('" 200 ', 1)[1].split()[0])
        stored = (store.media / key).read_bytes()
        assert len(stored) == size and dropbox_content_hash(stored) in pack_hashes, line
    print(f"\nmultihost timings (s): { {k: round(v, 1) for k, v in timings.items()} }; "
          f"first delivery ran on {victim}, taken over by {survivor}")
