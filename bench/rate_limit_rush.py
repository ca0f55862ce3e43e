"""Benchmark: one shared rate-limit bucket under a rush, the limiter alone (issue 19, item 9).

Every buyer behind one address counts against one bucket, and each count holds the bucket's
lock until its transaction commits. ``--threads`` threads of ONE process (as in a gunicorn
gthread worker) count against one bucket on PostgreSQL in a loop, each burning ``--work-ms``
of CPU between counts (the rest of a request, holding the GIL), in rounds that alternate
the two ways of counting, so that a busy shared machine weighs on both alike:

* ``before``: the limiter as it was (the advisory lock, then DELETE, count, INSERT as three
  statements), then the commit: four round trips with the lock held, each ending in a
  wait for this thread's turn on the GIL;
* ``now``: :func:`shop.ratelimit.allow_at_once` (the lock, one statement and the COMMIT
  sent in one pipeline).

Reported per way: counts per second and the p50 / p99 of one count, medians over rounds.

    .venv/bin/python -m bench.rate_limit_rush [--threads 32] [--seconds 5] [--rounds 4] [--work-ms 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shop import create_app, ratelimit  # noqa: E402
from shop.extensions import db  # noqa: E402
from shop.models import RateLimitHit, utcnow  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BUCKET = "stripe-return:client:127.0.0.1"
LIMIT = 1_000_000
HOUR = timedelta(hours=1)


def before() -> bool:
    """The limiter before this change, as the Stripe return called it (then committed)."""
    now = utcnow()
    since = now - HOUR
    ratelimit.lock(BUCKET)
    db.session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == BUCKET, RateLimitHit.at < since))
    used = db.session.scalar(select(func.count(RateLimitHit.id)).where(RateLimitHit.bucket == BUCKET,
                                                                        RateLimitHit.at >= since))
    allowed = (used or 0) < LIMIT
    if allowed:
        db.session.add(RateLimitHit(bucket=BUCKET, at=now))
    db.session.commit()
    return allowed


def now_() -> bool:
    return ratelimit.allow_at_once(BUCKET, LIMIT)


def burn(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def run(app: object, way: Callable[[], bool], threads: int, seconds: float, work_ms: float) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop() -> None:
        mine: list[float] = []
        with app.app_context():  # type: ignore[attr-defined]
            while time.monotonic() < stop:
                started = time.perf_counter()
                way()
                mine.append(time.perf_counter() - started)
                db.session.remove()
                burn(work_ms)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    latencies.sort()
    return {"per_s": len(latencies) / seconds, "p50": 1000 * latencies[len(latencies) // 2],
            "p99": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--work-ms", type=float, default=2.0)
    args = parser.parse_args()
    name = f"bench_ratelimit_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "MAIL_URL": None,
                          "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
                          "DB_POOL_SIZE": args.threads, "DB_MAX_OVERFLOW": 0})
        with app.app_context():
            db.create_all()
        results: dict[str, list[dict[str, float]]] = {"before": [], "now": []}
        for n in range(args.rounds):
            order = [("before", before), ("now", now_)]
            for label, way in order if n % 2 == 0 else reversed(order):
                results[label].append(run(app, way, args.threads, args.seconds, args.work_ms))
                print(f"round {n + 1} {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in results[label][-1].items()),
                      flush=True)
        with app.app_context():
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"\n{args.threads} threads, one bucket, {args.work_ms} ms of CPU between counts, "
          f"{args.rounds} rounds of {args.seconds} s each way; medians:\n")
    print("| limiter | counts/s | p50 ms | p99 ms |\n|---|---:|---:|---:|")
    for label, rows in results.items():
        print(f"| {label} | {statistics.median(r['per_s'] for r in rows):.0f} | "
              f"{statistics.median(r['p50'] for r in rows):.1f} | {statistics.median(r['p99'] for r in rows):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
