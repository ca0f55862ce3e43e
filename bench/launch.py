"""Benchmark: launch day. Simulated buyers arrive at a rising rate and do what buyers do.

The whole store runs as in production, on one machine: gunicorn with the project's
``gunicorn.conf.py`` on PostgreSQL (a database this script creates and drops), a private
``redis-server``, two RQ workers (``flask worker``), S3 through moto's server (the demo
pack is created straight into the bucket), the Dropbox emulator adding ``--latency-ms`` to
every API call, and the Stripe emulator (which has no latency setting: its answers are
loopback-fast, so real Stripe's ~0.3–1 s per page is not in these numbers).

Each buyer (a locust user, run headless in a child process with this file as the
locustfile) does one journey, named per step in the results:

 1. ``GET /`` (home), then the pack page, and polls its stats JSON twice, a second apart;
 2. buys: ``POST /packs/<slug>/buy`` with the form's CSRF token, follows to the Stripe
    emulator's pay page, pays with the success card through its form, follows the redirect
    back to ``/payments/stripe/return`` and on to the order page;
 3. picks FLAC in the order page's format choice (the page again, ``?format=flac``) and
    downloads the first album's zip in two halves: the first half, then a resume from
    there with ``Range``; a page without what the next step needs fails its step;
 4. connects Dropbox through the emulator's OAuth consent form over HTTP, presses Add to
    Dropbox on the first album and polls the delivery's progress until it is done.

Arrival rates rise in stages (``--rates``, buyers per second); at each stage locust keeps
``rate × pacing`` users who each start a journey every ``--pacing`` seconds
(``constant_pacing``), so the arrivals stay at the stage's rate until journeys take longer
than the pacing. Reported per stage and step: requests/s, p50/p95/p99, errors; then the
highest rate held with every step's p99 under 1 s (the Dropbox delivery's wall time, a
background job, is reported apart), and py-spy's view of one gunicorn worker at that rate.

    .venv/bin/python -m bench.launch [--rates 0.5,1,2,3,4] [--stage-seconds 40]
                                     [--latency-ms 100] [--profile-seconds 15]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
APP_KEY, APP_SECRET, APP_FOLDER = "launch-key", "launch-secret", "Indie Packs"
STRIPE_KEY, WEBHOOK_SECRET = "sk_test_launch", "whsec_launch"
SUCCESS_CARD = "4242 4242 4242 4242"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

sys.path.insert(0, str(ROOT))
from scripts.run_store import http_ok, tcp_open  # noqa: E402  (the same probes make run uses)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")


class Stack:
    """The store and everything it talks to, started in order and stopped newest first.

    :param code_root: the source tree gunicorn runs (another commit's export for a baseline).
    """

    def __init__(self, workdir: Path, latency_ms: int = 100, rq_workers: int = 2, s3: bool = True,
                 extra_env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.latency_ms = latency_ms
        self.rq_workers = rq_workers
        self.s3 = s3
        self.extra_env = extra_env or {}
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.database = f"bench_launch_{uuid.uuid4().hex[:10]}"
        self.env: dict[str, str] = {}
        self.gunicorns: list[tuple[str, subprocess.Popen[bytes], str]] = []

    # -- processes --------------------------------------------------------------------------

    def start_process(self, name: str, argv: list[str], env: dict[str, str] | None = None,
                      cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(argv, env=env or self.env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append((name, process))
        return process

    def flask(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run([PYTHON, "-m", "flask", "--app", "shop", *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> Stack:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()

        redis_port = free_port()
        self.start_process("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no"], env=dict(os.environ))
        wait_for(lambda: tcp_open(redis_port), 15, "redis-server")

        dropbox_port = free_port()
        self.start_process("dropbox-emulator", [
            PYTHON, "-m", "dropbox_emulator", "--host", "127.0.0.1", "--port", str(dropbox_port),
            "--app", f"{APP_KEY}:{APP_SECRET}:{APP_FOLDER}", "--latency-ms", str(self.latency_ms)],
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.dropbox_url = f"http://127.0.0.1:{dropbox_port}"
        wait_for(lambda: http_ok(self.dropbox_url + "/home"), 30, "the Dropbox emulator")

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        stripe_port = free_port()
        self.start_process("stripe-emulator", [
            PYTHON, "-m", "stripe_emulator", "--host", "127.0.0.1", "--port", str(stripe_port),
            "--api-key", STRIPE_KEY, "--webhook", f"{self.base_url}/payments/stripe/webhook",
            "--webhook-secret", WEBHOOK_SECRET, "--public-url", f"http://127.0.0.1:{stripe_port}"],
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.stripe_url = f"http://127.0.0.1:{stripe_port}"
        wait_for(lambda: http_ok(self.stripe_url + "/__emulator__/"), 30, "the Stripe emulator")

        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SHOP_", "AWS_", "TEST_DATABASE")) and not k.lower().endswith("_proxy")}
        env.update({
            "PYTHONPATH": str(ROOT),
            "SHOP_ENV": "development",
            "SHOP_SECRET_KEY": secrets.token_hex(32),
            "SHOP_BASE_URL": self.base_url,
            "SHOP_BIND": f"127.0.0.1:{self.port}",
            "SHOP_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}",
            "SHOP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SHOP_OUTBOX_DIR": str(self.workdir / "outbox"),
            "SHOP_MEDIA_ROOT": str(self.workdir / "media"),
            "SHOP_PAYMENT_PROVIDER": "stripe",
            "SHOP_STRIPE_SECRET_KEY": STRIPE_KEY,
            "SHOP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SHOP_STRIPE_API_URL": self.stripe_url,
            "SHOP_DROPBOX_APP_KEY": APP_KEY,
            "SHOP_DROPBOX_APP_SECRET": APP_SECRET,
            "SHOP_DROPBOX_APP_FOLDER": APP_FOLDER,
            "SHOP_DROPBOX_API_URL": self.dropbox_url,
            "SHOP_TOKEN_KEYS": Fernet.generate_key().decode(),
            # Every simulated buyer comes from 127.0.0.1: the per-client limit would stop them.
            "SHOP_BUYS_PER_CLIENT": "1000000",
            "SHOP_STRIPE_RETURNS_PER_CLIENT": "1000000",
        })
        if self.s3:
            s3_port = free_port()
            self.start_process("moto-s3", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                               env=dict(env))
            wait_for(lambda: tcp_open(s3_port), 30, "moto's S3 server")
            env.update({"SHOP_STORAGE": "s3", "SHOP_S3_BUCKET": "launch-media",
                        "SHOP_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}", "SHOP_S3_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
            import boto3

            boto3.client("s3", endpoint_url=env["SHOP_S3_ENDPOINT_URL"], region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(
                Bucket="launch-media")
        env.update(self.extra_env)
        self.env = env
        self.env["SHOP_DROPBOX_STORE_REFRESH_TOKEN"] = self.link_store_account()

        started = time.monotonic()
        self.flask("db", "upgrade")
        self.flask("catalog", "demo")
        self.flask("dropbox", "seed")
        print(f"# demo pack created into {'S3' if self.s3 else 'local storage'}, encoded and seeded in "
              f"{time.monotonic() - started:.0f} s", flush=True)
        self.slug = self.demo_slug()
        for n in range(self.rq_workers):
            self.start_process(f"worker-{n}", [PYTHON, "-m", "flask", "--app", "shop", "worker"])
        self.start_gunicorn("gunicorn", self.port, ROOT)
        return self

    def start_gunicorn(self, name: str, port: int, code_root: Path, env: dict[str, str] | None = None) -> str:
        env = dict(self.env, **(env or {}), SHOP_BIND=f"127.0.0.1:{port}", PYTHONPATH=str(code_root))
        process = self.start_process(name, [PYTHON, "-m", "gunicorn", "-c", str(code_root / "gunicorn.conf.py"),
                                            "wsgi:app"], env=env, cwd=code_root)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(url + "/"), 60, name)
        self.gunicorns.append((name, process, url))
        return url

    def link_store_account(self) -> str:
        request = urllib.request.Request(
            self.dropbox_url + "/__emulator__/tokens",
            data=json.dumps({"app_key": APP_KEY, "email": "store@indiepacks.local"}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.load(response)["refresh_token"])

    def demo_slug(self) -> str:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.env["SHOP_DATABASE_URL"])
        with engine.connect() as conn:
            slug = conn.execute(text("SELECT slug FROM packs ORDER BY id LIMIT 1")).scalar_one()
        engine.dispose()
        return str(slug)

    def worker_pids(self, name: str = "gunicorn") -> list[int]:
        """The gunicorn workers (children of the arbiter) of the named server."""
        import psutil

        arbiter = next(p for n, p, _ in self.gunicorns if n == name)
        return [child.pid for child in psutil.Process(arbiter.pid).children()]

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        admin.dispose()


# -- the buyer (locust side: this module is also the locustfile) --------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
ALBUM_ZIP = re.compile(r'href="(/orders/[^"/]+/albums/(\d+)/flac\.zip)"')
STEPS = ("home", "pack page", "stats json", "buy", "stripe pay page", "stripe pay", "stripe return",
         "order page", "order page, FLAC", "zip first half", "zip resume", "dropbox connect", "dropbox consent",
         "dropbox allow", "dropbox callback", "add to dropbox", "dropbox progress")


def define_buyer() -> None:
    """The locust user, defined only when locust loads this file (locust monkey-patches on import)."""
    import html

    from locust import HttpUser, constant_pacing, events, task
    from locust.exception import StopUser

    @events.init_command_line_parser.add_listener
    def _(parser: Any) -> None:
        parser.add_argument("--pack-slug", default="demo")
        parser.add_argument("--pacing", type=float, default=20.0)
        parser.add_argument("--delivery-log", default="")

    class Buyer(HttpUser):
        def wait_time(self) -> float:
            return float(constant_pacing(self.environment.parsed_options.pacing)(self))

        def expect(self, response: Any, *codes: int) -> Any:
            if response.status_code not in codes:
                response.failure(f"status {response.status_code}")
                raise StopUser
            response.success()
            return response

        def get(self, name: str, url: str, *codes: int, **kwargs: Any) -> Any:
            with self.client.get(url, name=name, catch_response=True, **kwargs) as response:
                return self.expect(response, *(codes or (200,)))

        def find(self, name: str, url: str, pattern: re.Pattern[str]) -> tuple[Any, re.Match[str]]:
            """GET ``url`` and the first match of ``pattern`` on it; a page without one fails
            the step (a journey never ends quietly half way)."""
            with self.client.get(url, name=name, catch_response=True) as response:
                self.expect(response, 200)
                match = pattern.search(response.text)
                if match is None:
                    response.failure(f"nothing like {pattern.pattern} on the page")
                    raise StopUser
                return response, match

        def post(self, name: str, url: str, data: dict[str, str], *codes: int, **kwargs: Any) -> Any:
            with self.client.post(url, data=data, name=name, catch_response=True, **kwargs) as response:
                return self.expect(response, *(codes or (303,)))

        @task
        def journey(self) -> None:
            self.client.cookies.clear()
            options = self.environment.parsed_options
            slug = options.pack_slug
            self.get("home", "/")
            _, token = self.find("pack page", f"/packs/{slug}", CSRF)
            for _ in range(2):
                time.sleep(1.0)
                self.get("stats json", f"/packs/{slug}/stats.json")
            email = f"buyer-{uuid.uuid4().hex[:12]}@example.com"
            buy = self.post("buy", f"/packs/{slug}/buy",
                            {"amount": "7.00", "email": email, "csrf_token": token.group(1)},
                            allow_redirects=False)
            pay_url = buy.headers["Location"]
            self.get("stripe pay page", pay_url)
            paid = self.post("stripe pay", pay_url, {"cardnumber": SUCCESS_CARD}, 303, allow_redirects=False)
            back = self.get("stripe return", paid.headers["Location"], 303, allow_redirects=False)
            order_url = back.headers["Location"]
            self.get("order page", order_url)
            order_path = order_url.split("//", 1)[-1].split("/", 1)[-1]
            order_path = "/" + order_path.split("#")[0]
            # The buyer picks FLAC in the page's format choice: the page again, in FLAC.
            order, match = self.find("order page, FLAC", f"{order_path}?format=flac", ALBUM_ZIP)
            zip_url, album_id = html.unescape(match.group(1)), match.group(2)
            head = self.client.head(zip_url, name="zip size")
            size = int(head.headers.get("Content-Length", "0"))
            half = size // 2
            first = self.get("zip first half", zip_url, 206, headers={"Range": f"bytes=0-{half - 1}"})
            rest = self.get("zip resume", zip_url, 206, headers={"Range": f"bytes={half}-"})
            if len(first.content) + len(rest.content) != size:
                rest.failure("the two halves do not add up to the zip")
            csrf = CSRF.search(order.text)
            assert csrf is not None
            connect = self.post("dropbox connect", f"{order_path}/dropbox/connect", {"csrf_token": csrf.group(1)},
                                allow_redirects=False)
            consent_url = connect.headers["Location"]
            consent = self.get("dropbox consent", consent_url).text
            fields = {name: html.unescape(value) for name, value in HIDDEN.findall(consent)}
            fields.update({"decision": "allow", "email": email})
            allowed = self.post("dropbox allow", consent_url.split("?")[0], fields, 302, 303,
                                allow_redirects=False)
            self.get("dropbox callback", allowed.headers["Location"], 302, 303, allow_redirects=False)
            started = time.monotonic()
            with self.client.post(f"{order_path}/dropbox/albums/{album_id}", name="add to dropbox",
                                  data={"format": "flac", "csrf_token": csrf.group(1)},
                                  headers={"Accept": "application/json"}, catch_response=True) as response:
                self.expect(response, 200, 202)
                delivery = response.json()
            status = delivery.get("status")
            for _ in range(120):  # bounded: at most about a minute
                if status in ("done", "failed", "needs_space", "needs_reconnect", "cancelled"):
                    break
                time.sleep(0.5)
                progress = self.get("dropbox progress", f"{order_path}/dropbox/deliveries/{delivery['id']}",
                                    headers={"Accept": "application/json"})
                status = progress.json().get("status")
            if options.delivery_log:
                with open(options.delivery_log, "a") as log:
                    log.write(json.dumps({"status": status, "seconds": time.monotonic() - started}) + "\n")

    globals()["Buyer"] = Buyer


if __name__ != "__main__" and "locust" in sys.modules:
    define_buyer()


# -- the orchestration ----------------------------------------------------------------------------


def run_stage(stack: Stack, rate: float, seconds: int, pacing: float, prefix: Path,
              profile_seconds: int) -> dict[str, Any]:
    users = max(1, round(rate * pacing))
    delivery_log = Path(f"{prefix}.deliveries.jsonl")
    argv = [PYTHON, "-m", "locust", "-f", str(Path(__file__).resolve()), "--headless", "--host", stack.base_url,
            "-u", str(users), "-r", str(max(rate, 0.5)), "--run-time", f"{seconds}s", "--stop-timeout", "60",
            "--csv", str(prefix), "--only-summary", "--pack-slug", stack.slug, "--pacing", str(pacing),
            "--delivery-log", str(delivery_log), "--loglevel", "WARNING"]
    locust = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(f"{prefix}.stderr", "w"),
                              start_new_session=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    profile = None
    if profile_seconds:
        # Once the arrivals have ramped up, listen to one gunicorn worker.
        time.sleep(min(seconds / 2, users / max(rate, 0.5) + 5))
        profile = py_spy_record(stack.worker_pids()[0], profile_seconds, Path(f"{prefix}.pyspy.txt"))
    try:
        locust.wait(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        os.killpg(locust.pid, signal.SIGKILL)
        locust.wait()
    return {"rate": rate, "users": users, "stats": read_stats(Path(f"{prefix}_stats.csv")),
            "failures": read_failures(Path(f"{prefix}_failures.csv")), "deliveries": read_deliveries(delivery_log),
            "profile": profile}


def read_stats(path: Path) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            rows[row["Name"]] = {
                "requests": float(row["Request Count"]), "failures": float(row["Failure Count"]),
                "rps": float(row["Requests/s"]), "p50": float(row["50%"] or 0), "p95": float(row["95%"] or 0),
                "p99": float(row["99%"] or 0), "max": float(row["Max Response Time"] or 0),
            }
    return rows


def read_failures(path: Path) -> list[str]:
    if not path.exists():
        return []
    with open(path) as f:
        return [f"{row['Method']} {row['Name']}: {row['Error']} ×{row['Occurrences']}" for row in csv.DictReader(f)]


def read_deliveries(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"count": 0}
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    seconds = sorted(r["seconds"] for r in runs)
    return {"count": len(runs), "statuses": dict(Counter(r["status"] for r in runs)),
            "p50": seconds[len(seconds) // 2] if seconds else 0,
            "p95": seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))] if seconds else 0}


def py_spy_record(pid: int, seconds: int, out: Path) -> dict[str, Any]:
    """``py-spy record`` of one gunicorn worker (all threads, idle ones left out), summarised:
    the functions most often on the CPU (own time) and most often on the stack (inclusive)."""
    raw = out.with_suffix(".raw")
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    try:
        subprocess.run([py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
                        "--format", "raw", "--output", str(raw), "--nonblocking"],
                       capture_output=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        # A saturated machine can starve py-spy itself: the stage's numbers still count.
        print(f"# py-spy did not finish in {seconds + 60} s; no profile for this stage", flush=True)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if raw.exists():
        for line in raw.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            frames = [short_frame(f) for f in stack.split(";")]
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    summary = {"samples": total, "own": own.most_common(15), "inclusive": inclusive.most_common(40)}
    out.write_text(json.dumps(summary, indent=1))
    return summary


def short_frame(frame: str) -> str:
    """``function (path/to/file.py:line)`` -> ``function (file.py)``."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    parts = Path(path).parts
    where = "/".join(parts[parts.index("site-packages") + 1:]) if "site-packages" in parts else "/".join(parts[-2:])
    return f"{function} ({where})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="0.5,1,2,3,4", help="arrival rates, buyers per second, one stage each")
    parser.add_argument("--stage-seconds", type=int, default=40)
    parser.add_argument("--pacing", type=float, default=20.0, help="seconds between one user's journeys")
    parser.add_argument("--latency-ms", type=int, default=100, help="the Dropbox emulator's added latency")
    parser.add_argument("--profile-seconds", type=int, default=15, help="py-spy record time per stage (0: none)")
    parser.add_argument("--p99-limit-ms", type=float, default=1000.0)
    parser.add_argument("--workdir", help="keep logs and CSVs here (default: a temporary folder)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="shop-launch-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# logs, CSVs and profiles in {workdir}", flush=True)
    stack = Stack(workdir, latency_ms=args.latency_ms)
    results = []
    try:
        stack.start()
        for rate in (float(r) for r in args.rates.split(",")):
            print(f"# stage: {rate} buyers/s for {args.stage_seconds} s", flush=True)
            result = run_stage(stack, rate, args.stage_seconds, args.pacing, workdir / f"stage-{rate}",
                               args.profile_seconds)
            results.append(result)
            print_stage(result)
    finally:
        stack.stop()
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    held = [r for r in results if not r["failures"] and web_p99(r) < args.p99_limit_ms]
    print(f"\nhighest arrival rate held with every step's p99 < {args.p99_limit_ms:.0f} ms and no errors: "
          f"{held[-1]['rate'] if held else 'none'} buyers/s")
    return 0


def web_p99(result: dict[str, Any]) -> float:
    steps = {name: row for name, row in result["stats"].items() if name != "Aggregated"}
    return max((row["p99"] for row in steps.values()), default=0.0)


def print_stage(result: dict[str, Any]) -> None:
    stats = result["stats"]
    print(f"\n## {result['rate']} buyers/s ({result['users']} users)\n")
    print("| step | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in (*STEPS, "zip size", "Aggregated"):
        row = stats.get(name)
        if row:
            print(f"| {name} | {row['requests']:.0f} | {row['rps']:.2f} | {row['p50']:.0f} | {row['p95']:.0f} | "
                  f"{row['p99']:.0f} | {row['max']:.0f} | {row['failures']:.0f} |")
    deliveries = result["deliveries"]
    if deliveries["count"]:
        print(f"\nAdd to Dropbox, click to done: {deliveries['count']} deliveries {deliveries['statuses']}, "
              f"p50 {deliveries['p50']:.2f} s, p95 {deliveries['p95']:.2f} s")
    for failure in result["failures"]:
        print(f"error: {failure}")
    profile = result.get("profile")
    if profile and profile["samples"]:
        print(f"\npy-spy, one gunicorn worker ({profile['samples']} samples), own time:")
        for frame, count in profile["own"][:10]:
            print(f"  {100 * count / profile['samples']:5.1f} %  {frame}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
