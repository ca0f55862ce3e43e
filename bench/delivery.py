"""Benchmark: Add to Dropbox, the original way against ours, side by side in one run.

(a) original: one synchronous ``copy_reference/save`` per track inside the web request;
    the buyer's browser waits for the whole album.
(b) ours: the click reads the buyer's free space, commits a delivery and enqueues it (the
    web request returns at once); an RQ worker process lists the buyer's album folder and,
    when there is none, saves the album-folder reference in one call (fast path).

Then the half-delivered case: the buyer already has every other file of each album (so the
album folders exist and lack half their files), and the album or pack is delivered again:

(a) original: one ``copy_reference/save`` per track in the request, a conflict counting as
    "already there" (so it does not stop at the first file the buyer has);
(c) old path, per file: the delivery job as it was before the batch path (one save per
    file, a ``get_metadata`` after each conflict), run in this process;
(d) new, batch: the delivery job's batch path (save the store's folder to a temporary
    folder, one ``move_batch_v2``, its check, delete the temporary folder), run in this
    process; and (d') the same from the click through the worker, space check included.

The emulator adds 100 ms to every API call (``--latency-ms 100``), like a real round trip
to Dropbox. Reported: wall time (for (b) also the time the click's request took), API
calls made by the buyer's token (per album for the half-delivered case), and bytes the
store uploads per delivery, next to what a per-buyer upload of the same files would send.

    .venv/bin/python bench/delivery.py [--runs 3] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from dropbox_emulator.testing import EmulatorProcess  # noqa: E402
from emulator_common import ServerThread  # noqa: E402
from shop.dropbox.paths import buyer_folder  # noqa: E402
from tests.services import RedisServer, WorkerProcess, free_port, worker_env  # noqa: E402

APP_KEY, APP_SECRET = "bench-key", "bench-secret"


def make_catalog(app, tracks_per_album: int, albums: int, track_size: int, formats=("flac",)):
    """A pack of ``albums`` albums of ``tracks_per_album`` tracks, with real files in storage.

    Only the formats benchmarked are made (FLAC): the seed uploads every file it finds.
    """
    from shop.catalog.hashing import digest_file, storage_key
    from shop.extensions import db
    from shop.models import PACK_DURATION, Album, Pack, Track, TrackFile, utcnow
    from shop.storage import get_storage

    now = utcnow()
    pack = Pack(slug=f"bench-{albums}", title="Bench pack", starts_at=now, ends_at=now + PACK_DURATION,
                min_price_cents=100, suggested_price_cents=500)
    storage = get_storage(app)
    with tempfile.TemporaryDirectory() as tmp:
        for a in range(albums):
            album = Album(position=a, artist=f"Bench Artist {a}", title=f"Record {a}", genre="rock", year=2026)
            for n in range(1, tracks_per_album + 1):
                track = Track(number=n, title=f"Song {n}", duration_ms=180_000)
                for fmt in formats:
                    path = Path(tmp) / f"{a}-{n}.{fmt}"
                    path.write_bytes(os.urandom(track_size))
                    d = digest_file(path)
                    key = storage_key("audio", d.sha256, fmt)
                    storage.put_file(key, path)
                    track.files.append(TrackFile(format=fmt, storage_key=key, size=d.size, crc32=d.crc32,
                                                 sha256=d.sha256, dropbox_content_hash=d.dropbox_content_hash))
                album.tracks.append(track)
            pack.albums.append(album)
    db.session.add(pack)
    db.session.commit()
    return pack


def new_buyer(app, pack, emulator_url: str):
    """A paid order with a freshly connected (emulated) Dropbox account."""
    from dropbox.oauth import OAuth2FlowResult

    from shop.dropbox.connections import save_connection
    from shop.extensions import db
    from shop.models import Order, utcnow
    from shop.order_links import mint_link

    email = f"buyer-{secrets.token_hex(4)}@example.com"
    issued = requests.post(f"{emulator_url}/__emulator__/tokens", json={"app_key": APP_KEY, "email": email},
                           timeout=10).json()
    order = Order(pack=pack, email=email, amount_cents=500, currency="USD", status="paid",
                  payment_provider="test", payment_ref=secrets.token_hex(8), paid_at=utcnow())
    token = mint_link(order)
    db.session.add(order)
    db.session.commit()
    save_connection(order, OAuth2FlowResult(issued["access_token"], issued["account_id"], "1", None,
                                            issued["refresh_token"], 4 * 3600, None))
    return order, token, email


def buyer_calls(emulator_url: str, email: str) -> int:
    stats = requests.get(f"{emulator_url}/__emulator__/stats", timeout=10).json()
    account = stats["accounts"].get(email, {})
    # Reading who the buyer is (at connect time) is not part of a delivery.
    return account.get("calls_total", 0) - account.get("calls", {}).get("users/get_current_account", 0)


def store_bytes(emulator_url: str) -> int:
    return requests.get(f"{emulator_url}/__emulator__/stats", timeout=10).json()["bytes_uploaded_total"]


def buyer_routes(emulator_url: str, email: str) -> dict[str, int]:
    stats = requests.get(f"{emulator_url}/__emulator__/stats", timeout=10).json()
    return dict(stats["accounts"].get(email, {}).get("calls", {}))


def register_original_route(app):
    """The original approach, as it was: a save per track inside the request.

    A conflict (the buyer already has a file of that name) counts as there and the loop goes
    on, so the half-delivered case can be timed too; nothing else differs.
    """
    from dropbox.exceptions import ApiError
    from flask import abort

    from shop.catalog.layout import track_entries
    from shop.dropbox.client import buyer_client
    from shop.dropbox.connections import connection_for
    from shop.dropbox.paths import buyer_folder
    from shop.order_links import get_paid_order

    @app.post("/bench/original/<token>/<target>/<fmt>")
    def original(token: str, target: str, fmt: str):
        order = get_paid_order(token)
        albums = order.pack.albums if target == "pack" else [a for a in order.pack.albums if str(a.id) == target]
        if not albums:
            abort(404)
        dbx = buyer_client(connection_for(order))
        saved = 0
        for album in albums:
            folder = buyer_folder(album, fmt)
            for entry in track_entries(album, fmt):
                try:
                    dbx.files_copy_reference_save(entry.file.copy_ref, f"{folder}/{entry.name}")
                except ApiError as exc:
                    if not (exc.error.is_path() and exc.error.get_path().is_conflict()):
                        raise
                saved += 1
        return {"saved": saved}


def run_original(base: str, token: str, target: str, fmt: str) -> float:
    started = time.perf_counter()
    response = requests.post(f"{base}/bench/original/{token}/{target}/{fmt}", timeout=600)
    response.raise_for_status()
    return time.perf_counter() - started


def run_ours(base: str, token: str, target: str, fmt: str) -> tuple[float, float]:
    path = f"/orders/{token}/dropbox/pack" if target == "pack" else f"/orders/{token}/dropbox/albums/{target}"
    started = time.perf_counter()
    response = requests.post(base + path, data={"format": fmt}, headers={"Accept": "application/json"}, timeout=60)
    click = time.perf_counter() - started
    response.raise_for_status()
    delivery_id = response.json()["id"]
    while True:
        status = requests.get(f"{base}/orders/{token}/dropbox/deliveries/{delivery_id}",
                              headers={"Accept": "application/json"}, timeout=30).json()
        if status["status"] in ("done", "failed", "needs_reconnect"):
            break
        time.sleep(0.02)
    if status["status"] != "done":
        raise RuntimeError(f"delivery ended {status['status']}: {status['error']}")
    return time.perf_counter() - started, click


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--track-mib", type=float, default=1.0, help="size of each synthetic track file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    redis_server = RedisServer().start()
    emulator = EmulatorProcess(apps=[(APP_KEY, APP_SECRET, "Indie Packs Bench")],
                               latency_ms=args.latency_ms).start()
    store_port = free_port()
    try:
        store_token = requests.post(f"{emulator.base_url}/__emulator__/tokens",
                                    json={"app_key": APP_KEY, "email": "store@bench.test"}, timeout=10).json()
        config = {
            "ENV": "testing", "TESTING": False, "SECRET_KEY": secrets.token_hex(16),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.sqlite3'}", "MEDIA_ROOT": str(work / "media"),
            "OUTBOX_DIR": str(work / "outbox"), "REDIS_URL": redis_server.url,
            "BASE_URL": f"http://127.0.0.1:{store_port}", "DROPBOX_APP_KEY": APP_KEY,
            "DROPBOX_APP_SECRET": APP_SECRET, "DROPBOX_API_URL": emulator.base_url,
            "DROPBOX_STORE_REFRESH_TOKEN": store_token["refresh_token"],
            "TOKEN_KEYS": Fernet.generate_key().decode(), "WTF_CSRF_ENABLED": False,
        }
        from shop import create_app
        from shop.extensions import db

        app = create_app(config)
        register_original_route(app)
        ctx = app.app_context()
        ctx.push()
        db.create_all()
        track_size = int(args.track_mib * 1024 * 1024)
        album_pack = make_catalog(app, tracks_per_album=12, albums=1, track_size=track_size)
        big_pack = make_catalog(app, tracks_per_album=12, albums=4, track_size=track_size)
        from shop.dropbox.seed import albums_in_scope, run_seed

        print("seeding the store's Dropbox (not timed)...", flush=True)
        seed = run_seed(albums_in_scope())
        assert seed.failed == 0, seed.failures
        server = ServerThread(app, port=store_port).start()
        worker = WorkerProcess(worker_env(app), log_path=work / "worker.log").start()
        time.sleep(2)  # let the worker connect before the first click

        cases = [("12-track album", album_pack, str(album_pack.albums[0].id)), ("4-album pack", big_pack, "pack")]
        rows = []
        for label, pack, target in cases:
            files = [f for a in pack.albums for t in a.tracks for f in t.files if f.format == "flac"]
            per_buyer_upload = sum(f.size for f in files)
            results = {"original": [], "ours": [], "ours_click": [], "ours_per_file": []}
            calls = {}
            uploaded = {}
            for _ in range(args.runs):
                for approach in ("original", "ours", "ours_per_file"):
                    order, token, email = new_buyer(app, pack, emulator.base_url)
                    if approach == "ours_per_file":
                        # The buyer already has the folders (a file of their own in each): no fast
                        # path; the batch path copies the whole album (before it: one save per file).
                        for album in pack.albums:
                            _seed_buyer_file(emulator.base_url, email, f"{buyer_folder(album, 'flac')}/notes.txt")
                    before_bytes = store_bytes(emulator.base_url)
                    before_calls = buyer_calls(emulator.base_url, email)
                    if approach == "original":
                        results["original"].append(run_original(server.base_url, token, target, "flac"))
                    else:
                        total, click = run_ours(server.base_url, token, target, "flac")
                        results[approach].append(total)
                        if approach == "ours":
                            results["ours_click"].append(click)
                    calls[approach] = buyer_calls(emulator.base_url, email) - before_calls
                    uploaded[approach] = store_bytes(emulator.base_url) - before_bytes
            rows.append((label, len(files), per_buyer_upload, results, calls, uploaded))

        half_rows = []
        for label, pack, target in cases:
            times: dict[str, list[float]] = {name: [] for name in HALF_APPROACHES}
            per_album: dict[str, list[float]] = {name: [] for name in HALF_APPROACHES}
            routes: dict[str, int] = {}
            for _ in range(args.runs):
                for approach in HALF_APPROACHES:
                    order, token, email = new_buyer(app, pack, emulator.base_url)
                    missing = half_deliver(emulator.base_url, email, pack)
                    before = buyer_routes(emulator.base_url, email)
                    if approach == "original":
                        times[approach].append(run_original(server.base_url, token, target, "flac"))
                    elif approach == "new_click":
                        times[approach].append(run_ours(server.base_url, token, target, "flac")[0])
                    else:
                        times[approach].append(run_job(order, target, batch_moves=approach == "new"))
                    after = buyer_routes(emulator.base_url, email)
                    delta = {route: after.get(route, 0) - before.get(route, 0) for route in after}
                    per_album[approach].append(sum(delta.values()) / len(pack.albums))
                    if approach == "new":
                        routes = {route: n for route, n in delta.items() if n}
                    check_every_file_once(emulator.base_url, email, pack)
            half_rows.append((label, missing, len(pack.albums), times, per_album, routes))

        print_report(rows, args)
        print_half_report(half_rows, args)
        worker.stop()
        server.stop()
        ctx.pop()
    finally:
        emulator.stop()
        redis_server.stop()


HALF_APPROACHES = ("original", "old", "new", "new_click")


def half_deliver(emulator_url: str, email: str, pack) -> int:
    """Put every other file of each album into the buyer's Dropbox (set-up: not timed or counted)."""
    import dropbox

    from dropbox_emulator.testing import RedirectingSession
    from shop.catalog.layout import track_entries

    issued = requests.post(f"{emulator_url}/__emulator__/tokens", json={"app_key": APP_KEY, "email": email},
                           timeout=10).json()
    dbx = dropbox.Dropbox(issued["access_token"], session=RedirectingSession(emulator_url))
    missing = 0
    for album in pack.albums:
        entries = track_entries(album, "flac")
        for entry in entries[::2]:
            dbx.files_copy_reference_save(entry.file.copy_ref, f"{buyer_folder(album, 'flac')}/{entry.name}")
        missing += len(entries) - len(entries[::2])
    return missing


def run_job(order, target: str, batch_moves: bool) -> float:
    """The delivery job in this process, timed from creating the delivery to its end."""
    from shop.dropbox.deliveries import create_delivery
    from shop.dropbox.jobs import Deliverer

    started = time.perf_counter()
    delivery, _ = create_delivery(order, target if target == "pack" else f"album:{target}", "flac")
    outcome = Deliverer(delivery.id, batch_moves=batch_moves).run()
    if outcome != "done":
        raise RuntimeError(f"delivery {delivery.id} ended {outcome!r}")
    return time.perf_counter() - started


def check_every_file_once(emulator_url: str, email: str, pack) -> None:
    """Every track once in the buyer's Dropbox, nothing else (no "(2)" copies, no temporary folder)."""
    from shop.catalog.layout import track_entries

    files = requests.get(f"{emulator_url}/__emulator__/accounts/{email}/files", params={"app_key": APP_KEY},
                         timeout=10).json()
    found = sorted(f["path_display"] for f in files)
    wanted = sorted(f"{buyer_folder(album, 'flac')}/{entry.name}" for album in pack.albums
                    for entry in track_entries(album, "flac"))
    if found != wanted:
        raise RuntimeError(f"{email}: expected each file once, found {len(found)} files for {len(wanted)}")


def _seed_buyer_file(emulator_url: str, email: str, path: str) -> None:
    """Put a file of the buyer's own into the album folder (so the folder exists)."""
    import dropbox

    from dropbox_emulator.testing import RedirectingSession

    issued = requests.post(f"{emulator_url}/__emulator__/tokens", json={"app_key": APP_KEY, "email": email},
                           timeout=10).json()
    dropbox.Dropbox(issued["access_token"], session=RedirectingSession(emulator_url)).files_upload(
        b"the buyer's own notes", path)


def print_report(rows, args) -> None:
    med = statistics.median
    print()
    print(f"Emulator latency {args.latency_ms:.0f} ms per API call; {args.runs} runs each; medians.")
    print()
    print("| delivery | files | approach | wall time | web request | buyer API calls | store bytes uploaded "
          "| per-buyer upload would send |")
    print("|---|---|---|---|---|---|---|---|")
    for label, count, per_buyer, results, calls, uploaded in rows:
        original = med(results["original"])
        ours = med(results["ours"])
        print(f"| {label} | {count} | (a) original: save per track in the request | {original:.2f} s | "
              f"{original:.2f} s (the buyer waits) | {calls['original']} | {uploaded['original']} | "
              f"{per_buyer / 1e6:.1f} MB |")
        print(f"| {label} | {count} | (b) ours, fast path (folder reference) | {ours:.2f} s "
              f"({original / ours:.1f}x faster) | {med(results['ours_click']) * 1000:.0f} ms | {calls['ours']} | "
              f"{uploaded['ours']} | {per_buyer / 1e6:.1f} MB |")
        per_file = med(results["ours_per_file"])
        print(f"| {label} | {count} | (b) ours, folder exists (batch path) | {per_file:.2f} s | "
              f"(returns at once) | {calls['ours_per_file']} | {uploaded['ours_per_file']} | "
              f"{per_buyer / 1e6:.1f} MB |")


def print_half_report(rows, args) -> None:
    med = statistics.median
    print()
    print(f"Half-delivered: every other file already in the buyer's Dropbox. Latency {args.latency_ms:.0f} ms "
          f"per API call; {args.runs} runs each; medians.")
    print()
    print("| delivery | files missing | approach | wall time | vs (a) | buyer API calls per album |")
    print("|---|---:|---|---:|---:|---:|")
    names = {
        "original": "(a) original: save per track in the request",
        "old": "(c) old path: per file (job)",
        "new": "(d) new: batch (job)",
        "new_click": "(d') new: batch, click to done (worker, space check included)",
    }
    for label, missing, albums, times, per_album, routes in rows:
        original = med(times["original"])
        for approach in HALF_APPROACHES:
            t = med(times[approach])
            ratio = "1.00" if approach == "original" else f"{t / original:.2f}"
            print(f"| {label} | {missing} | {names[approach]} | {t:.2f} s | {ratio} | "
                  f"{med(per_album[approach]):g} |")
        print(f"| {label} | | (d) calls by route, {albums} album(s) | | | "
              + ", ".join(f"{route} {n}" for route, n in sorted(routes.items())) + " |")


if __name__ == "__main__":
    main()
