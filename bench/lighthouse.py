"""Benchmark: Lighthouse scores of the store's pages (mobile preset), median of N runs.

Lighthouse (the npm package, 12.x) audits each page ``--runs`` times with its default form
factor (mobile: a Moto G Power-sized screen, 4× CPU slowdown and simulated slow 4G) in a
headless Chromium; the table shows the median score per page and category. Each run's JSON
report is kept in ``artifacts/lighthouse/`` (gitignored). ``--check`` exits non-zero when a
median is below issue 23's thresholds: performance ≥ 95, accessibility 100 and best
practices 100 on every page, SEO 100 on the public pages (home and the pack page; private
pages carry ``noindex`` on purpose, which Lighthouse's SEO category counts against them).

Against a running store (``make run`` in another shell)::

    .venv/bin/python -m bench.lighthouse --base http://127.0.0.1:8000 --code ABCD-EFGH-JKMN

or let it start ``make run``'s script itself, wait for the demo pack to go on sale and make
an order (with a demo download code it prints, or by buying through the Stripe emulator)::

    .venv/bin/python -m bench.lighthouse --start [--runs 3] [--check]

The pages: ``home`` (/), ``pack`` (the first pack on sale), ``order`` (a paid order's
page), ``lost`` (/orders/lost) and ``policy`` (/terms); ``--page NAME=PATH`` adds or
replaces one, ``--only home,pack`` picks some. Where Lighthouse and Chromium are:
``--lighthouse`` (default: ``$LIGHTHOUSE``, else ``lighthouse`` on the PATH, else
/work/lh/node_modules/.bin/lighthouse) and ``$CHROME_PATH`` (default /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
SHORT = {"performance": "perf", "accessibility": "a11y", "best-practices": "best", "seo": "seo"}
# Issue 23's bar; SEO only where the page is meant to be found.
THRESHOLDS = {"performance": 95, "accessibility": 100, "best-practices": 100}
PUBLIC_PAGES = ("home", "pack", "policy")
SUCCESS_CARD = "4242 4242 4242 4242"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PACK_LINK = re.compile(r'class="pack-card-link" href="(/packs/[^"/?#]+)"')
CODES_LINE = re.compile(r"demo download codes for /redeem \(one order each\): (.+)")
FALLBACK_LIGHTHOUSE = Path("/work/lh/node_modules/.bin/lighthouse")


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def free_port(preferred: int = 8000) -> int:
    for port in range(preferred, preferred + 100):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class Client:
    """A cookie-keeping HTTP client that does not follow redirects (the caller does)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  self._NoRedirect())

    def request(self, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, body, Location) of one request; a form POST when ``data`` is given."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=body), timeout=30) as response:
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), error.headers.get("Location", "")


def on_sale_pack(base: str) -> str | None:
    """The path of the first pack listed as on sale on the home page, if any."""
    status, body, _ = Client().request(base + "/")
    match = PACK_LINK.search(body) if status == 200 else None
    return match.group(1) if match else None


def wait_for_pack(base: str, timeout: float, store: Store | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store and store.proc.poll() is not None:
            raise RuntimeError(f"make run's script exited with status {store.proc.returncode}: see {store.log_path}")
        try:
            path = on_sale_pack(base)
        except OSError:
            path = None
        if path:
            return path
        time.sleep(2)
    raise RuntimeError(f"no pack went on sale at {base} within {timeout:.0f} s")


def order_by_code(base: str, code: str) -> str:
    client = Client()
    _, page, _ = client.request(base + "/redeem")
    token = CSRF.search(page)
    if token is None:
        raise RuntimeError("no CSRF token on /redeem")
    email = f"lighthouse-{uuid.uuid4().hex[:8]}@example.com"
    status, _, location = client.request(base + "/redeem", {"code": code, "email": email,
                                                            "csrf_token": token.group(1)})
    if status != 303 or "/orders/" not in location:
        raise RuntimeError(f"redeeming {code} answered {status}")
    return urllib.parse.urlsplit(location).path


def order_by_buying(base: str, pack_path: str) -> str:
    """Buy the pack at its minimum through the store's payment provider (the Stripe emulator
    under ``make run``): the pack page's form, the emulator's pay page, the return."""
    client = Client()
    _, page, _ = client.request(base + pack_path)
    token = CSRF.search(page)
    amount = re.search(r'name="amount"[^>]*\bvalue="([^"]+)"', page)
    if token is None:
        raise RuntimeError(f"no buy form on {pack_path}")
    email = f"lighthouse-{uuid.uuid4().hex[:8]}@example.com"
    status, _, pay_url = client.request(base + pack_path + "/buy", {
        "amount": amount.group(1) if amount else "10.00", "email": email, "csrf_token": token.group(1)})
    if status not in (302, 303) or not pay_url:
        raise RuntimeError(f"buying answered {status}")
    client.request(pay_url)
    status, _, back = client.request(pay_url, {"cardnumber": SUCCESS_CARD})
    if status not in (302, 303):
        raise RuntimeError(f"the payment page answered {status}")
    status, _, order_url = client.request(urllib.parse.urljoin(pay_url, back))
    path = urllib.parse.urlsplit(order_url).path
    if status not in (302, 303) or not path.startswith("/orders/"):
        raise RuntimeError(f"the return from payment answered {status} to {order_url!r}")
    return path


class Store:
    """``scripts/run_store.py`` (what ``make run`` runs) in its own process group."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / "make-run.log"
        self.log_file = self.log_path.open("w")
        python = ROOT / ".venv" / "bin" / "python"
        self.proc = subprocess.Popen([str(python if python.exists() else sys.executable), "scripts/run_store.py"],
                                     cwd=ROOT, env=dict(os.environ, PORT=str(port)), stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def codes(self) -> list[str]:
        match = CODES_LINE.search(self.log_path.read_text())
        return [c.strip() for c in match.group(1).split(",")] if match else []

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log_file.close()


def lighthouse_binary(given: str | None) -> str:
    for candidate in (given, os.environ.get("LIGHTHOUSE"), shutil.which("lighthouse"), str(FALLBACK_LIGHTHOUSE)):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("Lighthouse not found: npm install lighthouse@12, then --lighthouse PATH")


def run_lighthouse(binary: str, url: str, out: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("CHROME_PATH", "/usr/bin/chromium")
    argv = [binary, url, "--output=json", f"--output-path={out}", "--quiet",
            f"--only-categories={','.join(CATEGORIES)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"lighthouse failed on {url}: {result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(out.read_text())
    if report.get("runtimeError"):
        raise RuntimeError(f"lighthouse: {report['runtimeError']}")
    return report


def scores(report: dict[str, Any]) -> dict[str, int]:
    return {name: round(100 * (report["categories"][name]["score"] or 0)) for name in CATEGORIES}


def failing_audits(report: dict[str, Any]) -> list[str]:
    """What keeps a category below 100: failed audits that weigh in a category (performance
    metrics are listed with their score), one line each."""
    weighted = {ref["id"] for cat in report["categories"].values() for ref in cat["auditRefs"] if ref["weight"]}
    lines = []
    for audit_id, audit in report["audits"].items():
        score = audit.get("score")
        if audit_id not in weighted or score is None or audit.get("scoreDisplayMode") in ("notApplicable", "manual"):
            continue
        if score < 1:
            value = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            lines.append(f"{audit_id}: {score:.2f}{value}")
    return sorted(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--base", help="a running store, e.g. http://127.0.0.1:8000")
    where.add_argument("--start", action="store_true", help="start make run's script on a free port")
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs per page (median reported)")
    parser.add_argument("--code", help="a download code to make the order with (default: buy the pack)")
    parser.add_argument("--order", help="an order page's path, instead of making an order")
    parser.add_argument("--page", action="append", default=[], metavar="NAME=PATH", help="add or replace a page")
    parser.add_argument("--only", help="comma-separated page names to audit")
    parser.add_argument("--check", action="store_true", help="exit 1 when a median is below issue 23's bar")
    parser.add_argument("--lighthouse", help="the lighthouse executable")
    parser.add_argument("--wait", type=float, default=600, help="seconds to wait for a pack on sale")
    args = parser.parse_args()
    binary = lighthouse_binary(args.lighthouse)

    store = Store(free_port()) if args.start else None
    base = store.base if store else args.base.rstrip("/")
    try:
        if store:
            log(f"started make run's script at {base} (log: {store.log_path.relative_to(ROOT)})")
        pack_path = wait_for_pack(base, args.wait, store)
        pages = {"home": "/", "pack": pack_path, "order": args.order or "", "lost": "/orders/lost",
                 "policy": "/terms"}
        pages.update(dict(p.split("=", 1) for p in args.page))
        wanted = args.only.split(",") if args.only else list(pages)
        if "order" in wanted and not pages["order"]:
            code = args.code or (store.codes()[0] if store and store.codes() else None)
            pages["order"] = order_by_code(base, code) if code else order_by_buying(base, pack_path)
            log(f"order page: {pages['order']}" + (f" (code {code})" if code else " (bought)"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in wanted}
        loads: list[float] = []
        for run in range(1, args.runs + 1):
            # Interleaved, so a burst of load on the shared machine hits every page alike.
            for name in wanted:
                loads.append(os.getloadavg()[0])
                report = run_lighthouse(binary, base + pages[name], ARTIFACTS / f"{name}-{run}.json")
                results[name].append(report)
                log(f"run {run} {name}: " + " ".join(f"{SHORT[c]} {s}" for c, s in scores(report).items()))
    finally:
        if store:
            store.stop()
    return report_table(results, pages, loads, args.check)


def report_table(results: dict[str, list[dict[str, Any]]], pages: dict[str, str], loads: list[float],
                 check: bool) -> int:
    first = next(iter(results.values()))
    print(f"Lighthouse {first[0]['lighthouseVersion']}, mobile preset, median of {len(first)} runs; "
          f"1-minute load average {min(loads):.1f} to {max(loads):.1f} (median {statistics.median(loads):.1f}) "
          f"on {os.cpu_count()} CPUs as the runs started\n")
    print("| page | path | " + " | ".join(CATEGORIES) + " |")
    print("|---|---|" + "---:|" * len(CATEGORIES))
    below = []
    for name, reports in results.items():
        medians = {c: int(statistics.median(scores(r)[c] for r in reports)) for c in CATEGORIES}
        spread = {c: sorted(scores(r)[c] for r in reports) for c in CATEGORIES}
        cells = [f"{medians[c]}" + (f" ({spread[c][0]}–{spread[c][-1]})" if spread[c][0] != spread[c][-1] else "")
                 for c in CATEGORIES]
        path = "/orders/…" if name == "order" else pages[name]
        print(f"| {name} | `{path}` | " + " | ".join(cells) + " |")
        bar = dict(THRESHOLDS, **({"seo": 100} if name in PUBLIC_PAGES else {}))
        below += [f"{name} {c} {medians[c]} < {least}" for c, least in bar.items() if medians[c] < least]
    print()
    for name, reports in results.items():
        # The run with the median performance score stands for the page.
        middle = sorted(reports, key=lambda r: scores(r)["performance"])[len(reports) // 2]
        found = failing_audits(middle)
        if found:
            print(f"{name}: " + "; ".join(found))
    if check and below:
        print("\nbelow the bar: " + ", ".join(below))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
