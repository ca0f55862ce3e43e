"""Benchmark: our album zip against the same bytes as a static file and against zipstream-ng.

Run from the repository root::

    .venv/bin/python -m bench.downloads [--runs 5] [--cache /tmp/shop-bench-downloads]

The first run generates a ~1 GB album (12 tracks of 85 MiB of random bytes, FLAC only)
into the cache folder; later runs reuse those files and rebuild only the small SQLite
catalog (one pack, one paid order), so a schema change never leaves a stale cache.
ONE gunicorn process (the project's gunicorn.conf.py, one gthread worker) then serves,
side by side:

* ``zip``: the store's album zip route, ``/orders/<token>/albums/<id>/flac.zip``;
* ``static``: the very same zip bytes, written once to a file, served with Flask's
  ``send_file`` (gunicorn uses ``sendfile(2)``): the ceiling;
* ``zipstream-ng``: the same tracks as a stored zip from zipstream-ng, made conditional
  with Werkzeug's ``Response.make_conditional`` (the usual Python way).

curl downloads each one ``--runs`` times, interleaved, to /dev/null; the table reports the
median throughput, the median time to first byte of a 64 KiB ``Range`` at 0 % and at 90 %
of the size, and the worker's resident memory (peak, and growth over its idle size),
sampled every 20 ms with psutil. The markdown is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(os.environ.get("SHOP_BENCH_CACHE", "/tmp/shop-bench-downloads"))
TRACKS = 12
TRACK_SIZE = 85 * 1024 * 1024
PROBE = 64 * 1024


# --- the album, generated once ---------------------------------------------------------


def bench_config(cache: Path) -> dict:
    return {"ENV": "testing", "TESTING": False, "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{cache / 'shop.sqlite3'}",
            "MEDIA_ROOT": str(cache / "media")}


def generate_media(cache: Path) -> dict:
    """Random tracks into ``cache/media`` (once); returns their catalog facts."""
    facts_path = cache / "tracks.json"
    if facts_path.exists():
        return json.loads(facts_path.read_text())
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    from shop.catalog.hashing import digest_file, storage_key
    from shop.models import utcnow
    from shop.storage import LocalStorage

    storage = LocalStorage(cache / "media")
    tracks = []
    for number in range(1, TRACKS + 1):
        print(f"generating track {number}/{TRACKS}", file=sys.stderr)
        # Random bytes: as incompressible as real audio.
        with tempfile.NamedTemporaryFile(dir=cache, delete=False) as tmp:
            for _ in range(TRACK_SIZE // (1024 * 1024)):
                tmp.write(os.urandom(1024 * 1024))
        path = Path(tmp.name)
        digests = digest_file(path)
        key = storage_key("audio", digests.sha256, "flac")
        storage.put_file(key, path)
        path.unlink()
        tracks.append({"key": key, "size": digests.size, "crc32": digests.crc32,
                       "sha256": digests.sha256, "dropbox": digests.dropbox_content_hash})
    facts = {"created_at": utcnow().isoformat(), "tracks": tracks}
    facts_path.write_text(json.dumps(facts, indent=2))
    return facts


def prepare(cache: Path) -> dict:
    """The album's media (generated once), a fresh catalog for today's schema with one paid
    order, and the static copy of the album zip (rewritten only if its bytes changed)."""
    sys.path.insert(0, str(ROOT))
    from datetime import datetime

    from shop import create_app
    from shop.downloads.resources import find_download
    from shop.extensions import db
    from shop.models import Album, Order, OrderStatus, Pack, Track, TrackFile
    from shop.order_links import mint_link
    from shop.storage import get_storage

    facts = generate_media(cache)
    (cache / "shop.sqlite3").unlink(missing_ok=True)
    created = datetime.fromisoformat(facts["created_at"])
    app = create_app(bench_config(cache))
    with app.app_context():
        db.create_all()
        storage = get_storage(app)
        pack = Pack(slug="bench", title="Bench Pack", starts_at=created, created_at=created,
                    ends_at=created.replace(year=created.year + 10))
        album = Album(position=1, artist="Bench Artist", title="One Gigabyte", year=2026)
        pack.albums.append(album)
        for number, fact in enumerate(facts["tracks"], start=1):
            track = Track(number=number, title=f"Track {number}", duration_ms=300_000)
            track.files.append(TrackFile(format="flac", storage_key=fact["key"], size=fact["size"],
                                         crc32=fact["crc32"], sha256=fact["sha256"],
                                         dropbox_content_hash=fact["dropbox"]))
            album.tracks.append(track)
        order = Order(pack=pack, email="bench@example.com", amount_cents=1000, currency="USD",
                      status=OrderStatus.PAID.value, payment_provider="test", payment_ref="bench",
                      paid_at=created)
        token = mint_link(order)
        db.session.add_all([pack, order])
        db.session.commit()

        download = find_download(token, "album", album.id, "flac")
        assert download is not None
        static = cache / "album.zip"
        etag_path = cache / "album.zip.etag"
        if not static.exists() or not etag_path.exists() or etag_path.read_text() != download.etag:
            with open(static, "wb") as out:
                for chunk in download.source.iter_range(storage, 0, download.size):
                    out.write(chunk)
            etag_path.write_text(download.etag)
        digest = hashlib.sha256()
        with open(static, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
        meta = {"token": token, "album_id": album.id, "size": download.size,
                "sha256": digest.hexdigest(),
                "tracks": [str(storage.local_path(t.file("flac").storage_key)) for t in album.tracks]}
        db.session.remove()
        db.engine.dispose()
    (cache / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


# --- the server side: our app plus the two comparison routes ---------------------------


def create_bench_app():
    """The store's app with two bench-only routes; gunicorn imports this by name."""
    from flask import Response, request, send_file
    from zipstream import ZIP_STORED, ZipStream

    from shop import create_app

    cache = Path(os.environ["SHOP_BENCH_CACHE"])
    meta = json.loads((cache / "meta.json").read_text())
    app = create_app(bench_config(cache))

    def static_zip():
        return send_file(cache / "album.zip", mimetype="application/zip", conditional=True,
                         etag=True, max_age=None)

    def zipstream_zip():
        stream = ZipStream(compress_type=ZIP_STORED, sized=True)
        for number, path in enumerate(meta["tracks"], start=1):
            stream.add_path(path, f"Bench Artist - One Gigabyte (FLAC)/{number:02d} Track {number}.flac")
        size = len(stream)
        response = Response(stream, mimetype="application/zip")
        response.headers["Content-Length"] = str(size)
        response.last_modified = stream.last_modified
        return response.make_conditional(request, accept_ranges=True, complete_length=size)

    app.add_url_rule("/bench/static.zip", "bench_static", static_zip)
    app.add_url_rule("/bench/zipstream.zip", "bench_zipstream", zipstream_zip)
    return app


# --- the client side -------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    path: str
    throughput: list[float] = field(default_factory=list)  # MB/s
    ttfb_start: list[float] = field(default_factory=list)  # seconds
    ttfb_90: list[float] = field(default_factory=list)
    rss_idle: float = 0.0
    rss_peak: float = 0.0


class RssSampler:
    """Peak resident memory of the gunicorn worker(s), sampled in a thread."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.master = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        return sum(p.memory_info().rss for p in self.master.children(recursive=True))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.current())
            except Exception:
                pass
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def curl(url: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "-o", "/dev/null", *args, "-w",
         "%{size_download} %{time_total} %{time_starttransfer}", url],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    size, total, ttfb = int(out[0]), float(out[1]), float(out[2])
    return {"size": size, "total": total, "ttfb": ttfb}


def sha256_of(url: str) -> str:
    curl_proc = subprocess.Popen(["curl", "--silent", "--fail", url], stdout=subprocess.PIPE)
    digest = hashlib.sha256()
    assert curl_proc.stdout is not None
    while chunk := curl_proc.stdout.read(1024 * 1024):
        digest.update(chunk)
    assert curl_proc.wait() == 0
    return digest.hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(cache: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "SHOP_BENCH_CACHE": str(cache), "SHOP_BIND": f"127.0.0.1:{port}",
           "SHOP_LOG_LEVEL": "warning", "WEB_CONCURRENCY": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
         "--access-logfile", "/dev/null", "bench.downloads:create_bench_app()"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def measure(base: str, variants: list[Variant], size: int, runs: int, sampler_pid: int) -> None:
    for variant in variants:  # warm the page cache and the code paths
        curl(base + variant.path)
    for run in range(runs):
        for variant in variants[run % len(variants):] + variants[:run % len(variants)]:
            sampler = RssSampler(sampler_pid)
            idle = sampler.current()
            with sampler:
                result = curl(base + variant.path)
            assert result["size"] == (size if variant.name != "zipstream-ng" else result["size"])
            variant.throughput.append(result["size"] / result["total"] / 1e6)
            variant.rss_idle = idle / 1e6 if not variant.rss_idle else min(variant.rss_idle, idle / 1e6)
            variant.rss_peak = max(variant.rss_peak, sampler.peak / 1e6)
            at_90 = int(size * 0.9)
            variant.ttfb_start.append(curl(base + variant.path, "-r", f"0-{PROBE - 1}")["ttfb"])
            variant.ttfb_90.append(curl(base + variant.path, "-r", f"{at_90}-{at_90 + PROBE - 1}")["ttfb"])


def report(variants: list[Variant], size: int, runs: int, command: str, fresh_rss: float) -> str:
    static = statistics.median(next(v for v in variants if v.name == "static").throughput)
    lines = [
        f"Album zip of {size / 1e9:.2f} GB ({TRACKS} stored FLAC members), {runs} runs each, "
        f"interleaved, one gunicorn gthread worker, curl to /dev/null over loopback; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Worker RSS after one HEAD (app loaded, nothing streamed yet): "
        f"{fresh_rss:.0f} MB.",
        "",
        "| served as | throughput (median) | vs static | TTFB, Range at 0 % | TTFB, Range at 90 % "
        "| 90 % / 0 % | worker RSS idle → peak (growth) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        mbps = statistics.median(v.throughput)
        t0, t90 = statistics.median(v.ttfb_start), statistics.median(v.ttfb_90)
        lines.append(
            f"| {v.name} | {mbps:,.0f} MB/s | {mbps / static:.2f}× | {t0 * 1000:.1f} ms "
            f"| {t90 * 1000:.1f} ms | {t90 / t0:.1f}× | {v.rss_idle:.0f} → {v.rss_peak:.0f} MB "
            f"(+{v.rss_peak - v.rss_idle:.1f} MB) |"
        )
    lines += ["", f"Reproduce: `{command}`"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed (Debian package curl)")
    meta = prepare(args.cache)
    port = free_port()
    server = start_server(args.cache, port)
    try:
        base = f"http://127.0.0.1:{port}"
        ours = f"/orders/{meta['token']}/albums/{meta['album_id']}/flac.zip"
        variants = [Variant("zip (ours)", ours), Variant("static", "/bench/static.zip"),
                    Variant("zipstream-ng", "/bench/zipstream.zip")]
        # The app loads in the worker on its first request: measure after a HEAD.
        subprocess.run(["curl", "--silent", "--fail", "--head", "-o", "/dev/null", base + ours],
                       check=True)
        fresh_rss = RssSampler(server.pid).current() / 1e6
        assert sha256_of(base + ours) == meta["sha256"], "our zip differs from its static copy"
        measure(base, variants, meta["size"], args.runs, server.pid)
        print(report(variants, meta["size"], args.runs,
                     f".venv/bin/python -m bench.downloads --runs {args.runs}", fresh_rss))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
