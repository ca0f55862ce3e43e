"""Benchmark: the store's pages side by side with wrk, on one server, in one run.

The same stack as ``bench/launch.py`` (gunicorn with ``gunicorn.conf.py`` on PostgreSQL,
Redis, the emulators, the demo pack; local storage unless ``--s3``), and a paid order with
a connected Dropbox, a finished delivery of one album and a few download counts. wrk then
loads, interleaved round after round, each of:

* ``home`` — ``GET /``;
* ``stats JSON`` — ``GET /packs/<slug>/stats.json``, the baseline: one query (the pack row
  with its stats and the pay box's split of all money), no template;
* ``pack page`` — ``GET /packs/<slug>`` (CSRF token, stats, the catalog);
* ``order page`` — ``GET /orders/<token>`` (download counts, the Dropbox panel).

``--baseline REV`` also serves ``git archive REV`` (e.g. the commit before the constant-query
work) from a second gunicorn on the same database, and loads its pack and order pages in
the same rounds; ``--variant KEY=VALUE`` likewise serves this tree with one setting
changed (e.g. ``SHOP_DB_POOL_SIZE=20`` or ``SHOP_THREADS=8``). Reported: requests/s (median
of the rounds) and each page's ratio to the stats JSON of the same server, plus wrk's
p50/p99 latency.

    .venv/bin/python -m bench.pages [--rounds 3] [--seconds 10] [--connections 32] [--baseline REV]
                                    [--variant KEY=VALUE]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.launch import Stack, free_port  # noqa: E402

WRK_LINE = re.compile(r"Requests/sec:\s+([\d.]+)")
LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def make_order(stack: Stack) -> str:
    """A paid order of the demo pack with a connected Dropbox, one delivered album and counts;
    made in a child process (the app's modules stay out of this one)."""
    script = """
import secrets, sys
from shop import create_app
from shop.extensions import db
from shop.models import Order, OrderStatus, Pack, utcnow
from shop.order_links import mint_link
from shop.downloads.models import PACK_ITEM_ID, DownloadCount
from shop.dropbox.models import Delivery, DeliveryFile, DropboxConnection, delivery_target
from sqlalchemy import select
app = create_app()
with app.app_context():
    pack = db.session.scalars(select(Pack).order_by(Pack.id)).first()
    order = Order(pack=pack, email="bench@example.com", amount_cents=700, currency=pack.currency,
                  status=OrderStatus.PAID.value, payment_provider="stripe",
                  payment_ref="bench-" + secrets.token_hex(8), paid_at=utcnow())
    token = mint_link(order)
    db.session.add(order)
    db.session.flush()
    db.session.add(DropboxConnection(order_id=order.id, account_id="dbid:bench", account_email="bench@example.com",
                                     account_name="Bench", refresh_token_enc="x", scope="files.content.write"))
    album = pack.albums[0]
    delivery = Delivery(order_id=order.id, target=delivery_target(album.id), format="flac", status="done")
    for position, track in enumerate(album.tracks, start=1):
        delivery.files.append(DeliveryFile(track_file_id=track.file("flac").id, album_id=album.id,
                                           position=position, folder=album.title, name=track.title + ".flac",
                                           status="done"))
    db.session.add(delivery)
    db.session.add(DownloadCount(order_id=order.id, kind="pack", item_id=PACK_ITEM_ID, format="flac", count=1))
    db.session.add(DownloadCount(order_id=order.id, kind="album", item_id=album.id, format="mp3-v0", count=2))
    db.session.commit()
    print(token)
"""
    done = subprocess.run([sys.executable, "-c", script], env=stack.env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def wrk(url: str, seconds: int, connections: int, threads: int) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of one wrk run; non-2xx answers fail the benchmark."""
    done = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                           "--timeout", "10s", url], capture_output=True, text=True, timeout=seconds + 60)
    if "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise RuntimeError(f"wrk saw errors on {url}:\n{done.stdout}")
    rate = WRK_LINE.search(done.stdout)
    assert rate, done.stdout
    latency = {p: float(v) * UNITS[u] for p, v, u in LATENCY.findall(done.stdout)}
    return float(rate.group(1)), latency.get("50", 0.0), latency.get("99", 0.0)


def export(rev: str, into: Path) -> Path:
    """``git archive rev`` unpacked into ``into`` (the working tree is not touched)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", help="a git revision to serve side by side (its pack and order pages)")
    parser.add_argument("--variant", action="append", default=[],
                        help="KEY=VALUE: also serve this tree with that setting (repeatable, one server each)")
    parser.add_argument("--s3", action="store_true", help="storage through moto's S3 server (default: local)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="shop-pages-"))
    print(f"# logs in {workdir}", flush=True)
    stack = Stack(workdir, latency_ms=0, rq_workers=0, s3=args.s3)
    results: dict[str, list[tuple[float, float, float]]] = {}
    try:
        stack.start()
        token = make_order(stack)
        base = stack.base_url
        cases = {
            "home": f"{base}/",
            "stats JSON": f"{base}/packs/{stack.slug}/stats.json",
            "pack page": f"{base}/packs/{stack.slug}",
            "order page": f"{base}/orders/{token}",
        }
        if args.baseline:
            old = stack.start_gunicorn("baseline", free_port(), export(args.baseline, workdir / "baseline"))
            cases.update({
                f"stats JSON ({args.baseline})": f"{old}/packs/{stack.slug}/stats.json",
                f"pack page ({args.baseline})": f"{old}/packs/{stack.slug}",
                f"order page ({args.baseline})": f"{old}/orders/{token}",
            })
        for variant in args.variant:
            key, _, value = variant.partition("=")
            url = stack.start_gunicorn(variant, free_port(), ROOT, env={key: value})
            cases.update({
                f"stats JSON ({variant})": f"{url}/packs/{stack.slug}/stats.json",
                f"pack page ({variant})": f"{url}/packs/{stack.slug}",
                f"order page ({variant})": f"{url}/orders/{token}",
            })
        for url in cases.values():  # warm every worker's caches and connections
            for _ in range(20):
                urllib.request.urlopen(url, timeout=10).read()
        for n in range(args.rounds):
            order = list(cases.items())
            if n % 2:
                order.reverse()
            for name, url in order:
                results.setdefault(name, []).append(wrk(url, args.seconds, args.connections, args.threads))
                print(f"# round {n + 1}: {name}: {results[name][-1][0]:.0f} req/s", flush=True)
    finally:
        stack.stop()

    def median(name: str, index: int) -> float:
        return statistics.median(r[index] for r in results[name])

    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} rounds interleaved, medians\n")
    print("| page | requests/s | vs stats JSON (same server) | p50 | p99 |")
    print("|---|---:|---:|---:|---:|")
    for name in results:
        suffix = name[name.index("("):] if "(" in name else ""
        reference = median(f"stats JSON {suffix}".strip(), 0)
        print(f"| {name} | {median(name, 0):,.0f} | {median(name, 0) / reference:.2f}× | "
              f"{median(name, 1):.1f} ms | {median(name, 2):.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
