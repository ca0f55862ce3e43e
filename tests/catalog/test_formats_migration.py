"""Migration e3b5a9c4d217 on data: every stored ``mp3`` becomes ``mp3-v0``, and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from shop import create_app
from shop.extensions import db

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

BEFORE, MASTERS = "a7d3c9e1f204", "e3b5a9c4d217"
FORMAT_TABLES = ("track_files", "album_folder_refs", "deliveries", "download_counts")


def formats(connection: sa.Connection) -> dict[str, list[str]]:
    found = {t: sorted(connection.execute(sa.text(f"SELECT format FROM {t}")).scalars()) for t in FORMAT_TABLES}
    delivered = connection.execute(sa.text(
        "SELECT f.format FROM delivery_files x JOIN track_files f ON f.id = x.track_file_id "
        "JOIN deliveries d ON d.id = x.delivery_id"
    )).scalars().all()
    return {**found, "delivered": delivered}


def test_stored_mp3_formats_become_mp3_v0_and_the_new_checks_hold(empty_database):
    app = create_app(empty_database)
    now = datetime.now(UTC)
    with app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as c:
            c.execute(sa.text(
                "INSERT INTO packs (id, slug, title, blurb, starts_at, ends_at, currency, min_price_cents, "
                "suggested_price_cents, created_at) VALUES (1, 'p', 'P', '', :s, :e, 'USD', 100, 500, :s)"
            ), {"s": now, "e": now + timedelta(days=14)})
            c.execute(sa.text("INSERT INTO albums (id, pack_id, position, artist, title, genre) "
                              "VALUES (1, 1, 1, 'A', 'B', 'rock')"))
            c.execute(sa.text("INSERT INTO tracks (id, album_id, number, title, duration_ms) VALUES (1, 1, 1, 'x', 1)"))
            for fmt in ("mp3", "flac", "wav"):
                c.execute(sa.text(
                    "INSERT INTO track_files (track_id, format, storage_key, size, crc32, sha256, "
                    "dropbox_content_hash) VALUES (1, :f, :k, 1, 1, 's', 'd')"
                ), {"f": fmt, "k": f"audio/{fmt}"})
            c.execute(sa.text(
                "INSERT INTO orders (id, pack_id, email, amount_cents, currency, status, payment_provider, "
                "payment_ref, created_at, paid_at) VALUES (1, 1, 'a@example.com', 500, 'USD', 'paid', 'test', 'r', "
                ":n, :n)"
            ), {"n": now})
            c.execute(sa.text(
                "INSERT INTO album_folder_refs (album_id, format, dropbox_path, copy_ref, copy_ref_expires_at, "
                "file_count, minted_at) VALUES (1, 'mp3', '/x', 'ref', :n, 1, :n)"
            ), {"n": now})
            c.execute(sa.text(
                "INSERT INTO deliveries (order_id, target, format, status, used_fallback, attempts, created_at) "
                "VALUES (1, 'pack', 'mp3', 'done', false, 1, :n)"
            ), {"n": now})
            c.execute(sa.text(
                "INSERT INTO download_counts (order_id, kind, item_id, format, count, first_at, last_at) "
                "VALUES (1, 'pack', 0, 'mp3', 2, :n, :n)"
            ), {"n": now})
            # A delivered file refers to a delivery and a track file, both tables rebuilt on SQLite.
            c.execute(sa.text(
                "INSERT INTO delivery_files (delivery_id, track_file_id, album_id, position, folder, name, status, "
                "updated_at) SELECT d.id, f.id, 1, 1, 'A - B (MP3)', '01 x.mp3', 'done', :n "
                "FROM deliveries d, track_files f WHERE f.format = 'mp3'"
            ), {"n": now})

        upgrade(revision=MASTERS)

        with db.engine.connect() as c:
            assert formats(c) == {"track_files": ["flac", "mp3-v0", "wav"], "album_folder_refs": ["mp3-v0"],
                                  "deliveries": ["mp3-v0"], "download_counts": ["mp3-v0"], "delivered": ["mp3-v0"]}
        with db.engine.begin() as c:  # the new formats are allowed, unknown ones still refused
            c.execute(sa.text(
                "INSERT INTO track_files (track_id, format, storage_key, size, crc32, sha256, "
                "dropbox_content_hash) VALUES (1, 'alac', 'audio/alac', 1, 1, 's', 'd')"
            ))
        try:
            with db.engine.begin() as c:
                c.execute(sa.text("UPDATE download_counts SET format = 'mp3'"))
            raise AssertionError("the old id should be refused now")
        except sa.exc.IntegrityError:
            pass

        downgrade(revision=BEFORE)

        with db.engine.connect() as c:
            assert formats(c) == {"track_files": ["flac", "mp3", "wav"], "album_folder_refs": ["mp3"],
                                  "deliveries": ["mp3"], "download_counts": ["mp3"], "delivered": ["mp3"]}
        downgrade(revision="base")
        db.engine.dispose()
