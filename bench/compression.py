"""Benchmark: bytes on the wire for the store's text responses, uncompressed (the baseline,
what gunicorn sent before ``shop/compression.py``), gzip and Brotli, in one run, and what
compressing the pack page costs in CPU time.

A 12-album pack of 8 tracks each on a temporary SQLite database, through the app's test
client (sizes do not depend on the server).

    .venv/bin/python -m bench.compression
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from flask import url_for

from shop import create_app
from shop.extensions import db


def main() -> None:
    from tests import factories  # the test builders make a realistic catalog without encoding

    folder = Path(tempfile.mkdtemp(prefix="bench-compression-"))
    app = create_app({"ENV": "testing", "TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "MEDIA_ROOT": str(folder / "media"),
                      "OUTBOX_DIR": str(folder / "outbox")})
    albums = tuple((f"Artist {n}", f"Album {n}", "rock", [f"Track {n}.{t}" for t in range(1, 9)])
                   for n in range(1, 13))
    with app.app_context():
        db.create_all()
        pack = factories.make_pack(app, albums=albums, formats=("flac", "mp3-v0"))
        client = app.test_client()
        with app.test_request_context():
            assets = [url_for("static", filename=name) for name in ("css/site.css", "js/site.js")]
        print(f"{'response':42} {'identity':>9} {'gzip':>7} {'br':>7}")
        for path in ["/", f"/packs/{pack.slug}", "/privacy", "/feed.xml", *assets]:
            sizes = []
            for coding in ("identity", "gzip", "br"):
                response = client.get(path, headers={"Accept-Encoding": coding})
                sizes.append(len(response.data))
                response.close()
            print(f"{path:42} {sizes[0]:9} {sizes[1]:7} {sizes[2]:7}")
        for coding in ("identity", "gzip", "br"):
            start = time.perf_counter()
            for _ in range(50):
                client.get(f"/packs/{pack.slug}", headers={"Accept-Encoding": coding}).close()
            print(f"pack page, {coding}: {(time.perf_counter() - start) / 50 * 1000:.2f} ms per view")


if __name__ == "__main__":
    main()
