"""Benchmark: a console upload of a real-sized album zip against ``flask catalog import`` of
the same folder.

Run from the repository root::

    .venv/bin/python -m bench.uploads [--rounds 3] [--cache /tmp/shop-bench-uploads]

The first run generates the album once into the cache folder: 10 tracks of 4 minutes,
16-bit/44.1 kHz stereo FLAC of the noise-rich synthetic music the tests use
(:func:`tests.catalog.audio.noisy_music`, about 12 bits a sample after FLAC: some 25 MB a
track, 250 MB in all), tagged, with a cover, and its zip (Deflate, as desktop tools make
them). Each round then, side by side, into a fresh SQLite catalog and media folder each:

* ``console``: gunicorn as ``gunicorn.conf.py`` runs it (one gthread worker), an operator
  logged in, and ``curl -F files=@album.zip`` to ``/admin/packs/<id>/upload`` as the page's
  script sends it (CSRF header, ``X-Requested-With``), until the JSON answer: the body
  received, the zip unpacked, the album imported. The worker's resident memory is sampled
  every 20 ms with psutil, and its kernel high-water mark (``VmHWM``) read at the end;
* ``cli``: ``flask --app shop catalog import <folder>`` as a process, its peak RSS from
  ``wait4``.

Rounds alternate which side goes first. Reported: medians of wall time and peak RSS, and
the worker's RSS when idle (logged in, before the upload). The markdown is printed for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(os.environ.get("SHOP_BENCH_CACHE", "/tmp/shop-bench-uploads"))
TRACKS = 10
TRACK_SECONDS = 240
SEGMENT_SECONDS = 30  # generated and written in pieces: the generator's own memory stays small
ARTIST, ALBUM = "Bench Static", "Real Size"
OPERATOR, PASSWORD = "bench@example.com", "a long bench password"
MB = 1024 * 1024


# --- the album, generated once ---------------------------------------------------------


def generate(cache: Path) -> tuple[Path, Path]:
    """The album folder and its zip (made once; reused while ``album.json`` says they are complete)."""
    sys.path.insert(0, str(ROOT))
    from tests.catalog.audio import RATE, noisy_music, png_bytes, tag_track

    folder = cache / "masters" / f"{ARTIST} - {ALBUM}"
    archive = cache / "album.zip"
    done = cache / "album.json"
    if done.exists():
        return folder, archive
    shutil.rmtree(cache / "masters", ignore_errors=True)
    folder.mkdir(parents=True)
    for number in range(1, TRACKS + 1):
        print(f"generating track {number}/{TRACKS}", file=sys.stderr)
        path = folder / f"{number:02d} Track {number}.flac"
        with sf.SoundFile(path, "w", RATE, 2, "PCM_16", format="FLAC") as out:
            for segment in range(TRACK_SECONDS // SEGMENT_SECONDS):
                out.write(noisy_music(SEGMENT_SECONDS, seed=1000 * number + segment))
        tag_track(path, {"title": f"Track {number}", "artist": ARTIST, "album": ALBUM,
                         "number": f"{number}/{TRACKS}", "genre": "Electronic", "year": "2026"})
    (folder / "cover.png").write_bytes(png_bytes(7, size=256))
    print("zipping", file=sys.stderr)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, f"{folder.name}/{path.name}")
    size = sum(p.stat().st_size for p in folder.iterdir())
    done.write_text(json.dumps({"bytes": size, "zip_bytes": archive.stat().st_size}))
    return folder, archive


# --- one fresh store per side and round ------------------------------------------------


def fresh_site(cache: Path, name: str) -> dict[str, str]:
    """A fresh catalog (one operator, one scheduled pack) and media folder; the env to run it."""
    site = cache / "sites" / name
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    env = {**os.environ, "SHOP_ENV": "development", "SHOP_SECRET_KEY": "bench-uploads",
           "SHOP_DATABASE_URL": f"sqlite:///{site / 'shop.sqlite3'}", "SHOP_MEDIA_ROOT": str(site / "media"),
           "SHOP_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)}
    script = (
        "from datetime import timedelta\n"
        "from shop import create_app\nfrom shop.admin import operators\nfrom shop.extensions import db\n"
        "from shop.models import Pack, utcnow\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    db.create_all()\n"
        f"    operators.create({OPERATOR!r}, {PASSWORD!r})\n"
        "    now = utcnow()\n"
        "    db.session.add(Pack(slug='bench', title='Bench', starts_at=now + timedelta(days=1),\n"
        "                        ends_at=now + timedelta(days=15)))\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)
    return env


@dataclass
class Side:
    name: str
    seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    idle_mb: list[float] = field(default_factory=list)


class RssSampler:
    """Peak resident memory of one process, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def vm_hwm(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def console_round(cache: Path, archive: Path, side: Side, profile: bool = False) -> None:
    env = fresh_site(cache, "console")
    port = free_port()
    env = {**env, "SHOP_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "SHOP_THREADS": "4"}
    log = open(cache / "sites" / "console" / "gunicorn.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/admin/login", timeout=60)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"gunicorn did not start: see {log.name}") from None
                time.sleep(0.2)
        web = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"', web.get(f"{base}/admin/login").text).group(1)
        web.post(f"{base}/admin/login", data={"email": OPERATOR, "password": PASSWORD, "csrf_token": token})
        page = web.get(f"{base}/admin/packs/1")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        [worker] = psutil.Process(server.pid).children()
        cookies = "; ".join(f"{c.name}={c.value}" for c in web.cookies)
        side.idle_mb.append(worker.memory_info().rss / MB)
        spy = None
        if profile:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(worker.pid),
                                    "--rate", "50", "--format", "raw", "--output", str(cache / "console.raw")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        with RssSampler(worker.pid) as sampler:
            started = time.perf_counter()
            answer = subprocess.run(
                ["curl", "-sS", "--fail-with-body", "-H", f"Cookie: {cookies}", "-H", f"X-CSRFToken: {token}",
                 "-H", "X-Requested-With: XMLHttpRequest", "-H", "Accept: application/json", "-H", "Expect:",
                 "-F", f"files=@{archive};type=application/zip", f"{base}/admin/packs/1/upload"],
                capture_output=True, text=True, check=False)
            side.seconds.append(time.perf_counter() - started)
        hwm = vm_hwm(worker.pid)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            print(hot_spots(cache / "console.raw"), file=sys.stderr)
        result = json.loads(answer.stdout or "{}")
        if answer.returncode or not result.get("ok") or result["albums"][0]["tracks_added"] != TRACKS:
            raise SystemExit(f"the upload failed: {answer.stdout[:500]} {answer.stderr[:500]}")
        side.peak_mb.append(max(sampler.peak, hwm) / MB)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        log.close()


def hot_spots(raw: Path, top: int = 12) -> str:
    """The request thread's samples from py-spy's raw output, by the innermost frame of ours
    (shop/) or of the library it is in."""
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "pack_upload" not in stack:
            continue
        frames = stack.split(";")
        ours = [f for f in frames if "/shop/" in f or "shop/" in f.split("(")[-1]]
        key = (ours[-1] if ours else frames[-1]) + " > " + frames[-1]
        counts[key] = counts.get(key, 0) + int(count)
        total += int(count)
    rows = sorted(counts.items(), key=lambda item: -item[1])[:top]
    return "\n".join(f"{100 * n / max(total, 1):5.1f}%  {name}" for name, n in rows)


def cli_round(cache: Path, folder: Path, side: Side) -> None:
    env = fresh_site(cache, "cli")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "shop", "catalog", "import", str(folder),
                                "--pack", "bench"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    side.seconds.append(time.perf_counter() - started)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode or f"masters {TRACKS} added".encode() not in output:
        raise SystemExit(f"flask catalog import failed:\n{output.decode(errors='replace')}")
    side.peak_mb.append(usage.ru_maxrss / 1024)  # kB on Linux


def report(console: Side, cli: Side, rounds: int, album_bytes: int, zip_bytes: int, command: str) -> str:
    med = statistics.median
    ratio = med(console.seconds) / med(cli.seconds)
    lines = [
        f"`{command}`, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other work; {rounds} rounds alternating which side goes first, "
        f"medians. The album: {TRACKS} tracks of {TRACK_SECONDS // 60} minutes, 16-bit/44.1 kHz stereo FLAC of "
        f"noise-rich synthetic music, {album_bytes / MB:.0f} MB (zip {zip_bytes / MB:.0f} MB).",
        "",
        "| | wall time | peak RSS | idle RSS |",
        "|---|---:|---:|---:|",
        f"| console upload (zip over HTTP to gunicorn, imported) | {med(console.seconds):.1f} s | "
        f"{med(console.peak_mb):.0f} MB (web worker) | {med(console.idle_mb):.0f} MB |",
        f"| `flask catalog import` of the folder | {med(cli.seconds):.1f} s | {med(cli.peak_mb):.0f} MB (process) | |",
        "",
        f"Console / CLI time: {ratio:.2f}x. The web worker's growth during the upload: "
        f"{med(console.peak_mb) - med(console.idle_mb):.0f} MB for a {zip_bytes / MB:.0f} MB body.",
        "",
        "Per round (s): console " + ", ".join(f"{s:.1f}" for s in console.seconds)
        + "; cli " + ", ".join(f"{s:.1f}" for s in cli.seconds) + ".",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--profile", action="store_true", help="py-spy the web worker in the first console round")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    folder, archive = generate(args.cache)
    facts = json.loads((args.cache / "album.json").read_text())
    console, cli = Side("console"), Side("cli")
    for number in range(args.rounds):
        order = [("console", console), ("cli", cli)]
        for name, side in order if number % 2 == 0 else reversed(order):
            print(f"round {number + 1}/{args.rounds}: {name}", file=sys.stderr)
            if name == "console":
                console_round(args.cache, archive, side, profile=args.profile and number == 0)
            else:
                cli_round(args.cache, folder, side)
            print(f"  {side.seconds[-1]:.1f} s, peak {side.peak_mb[-1]:.0f} MB", file=sys.stderr)
    command = "python -m bench.uploads " + " ".join(sys.argv[1:])
    print(report(console, cli, args.rounds, facts["bytes"], facts["zip_bytes"], command.strip()))
    shutil.rmtree(args.cache / "sites", ignore_errors=True)


if __name__ == "__main__":
    main()
