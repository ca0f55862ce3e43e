"""The migrations build the same schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import Connection, inspect, text

from shop import create_app
from shop.extensions import db

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def test_upgrade_creates_the_models_schema_and_downgrade_removes_it(empty_database):
    app = create_app(empty_database)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        tables = set(inspect(db.engine).get_table_names())
        assert {"packs", "orders", "order_links", "deliveries", "delivery_files", "download_counts"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


INITIAL = "0b0af190d866"
# Every table of the first schema, with the rows that hang off an order and a track.
SEEDED_TABLES = ("packs", "albums", "tracks", "track_files", "orders", "order_links", "deliveries",
                 "delivery_files", "download_counts", "rate_limit_hits", "album_folder_refs")


def _seed_initial_schema(connection: Connection) -> None:
    now = datetime.now(UTC)
    statements = [
        "INSERT INTO packs (id, slug, title, blurb, starts_at, ends_at, currency, min_price_cents, "
        "suggested_price_cents, created_at) VALUES (1, 'p', 'P', '', :n, :later, 'USD', 100, 500, :n)",
        "INSERT INTO albums (id, pack_id, position, artist, title, genre) VALUES (1, 1, 1, 'A', 'B', 'rock')",
        "INSERT INTO tracks (id, album_id, number, title, duration_ms) VALUES (1, 1, 1, 'x', 1000)",
        "INSERT INTO track_files (id, track_id, format, storage_key, size, crc32, sha256, dropbox_content_hash) "
        "VALUES (1, 1, 'flac', 'audio/x.flac', 1, 1, 's', 'd')",
        "INSERT INTO orders (id, pack_id, email, amount_cents, currency, status, payment_provider, payment_ref, "
        "created_at, paid_at) VALUES (1, 1, 'a@example.com', 500, 'USD', 'paid', 'test', 'r', :n, :n)",
        "INSERT INTO order_links (order_id, token_hash, created_at) VALUES (1, 'h', :n)",
        "INSERT INTO deliveries (id, order_id, target, format, status, used_fallback, attempts, created_at) "
        "VALUES (1, 1, 'pack', 'flac', 'done', false, 1, :n)",
        "INSERT INTO delivery_files (delivery_id, track_file_id, album_id, position, folder, name, status, "
        "updated_at) VALUES (1, 1, 1, 1, 'A - B (FLAC)', '01 x.flac', 'done', :n)",
        "INSERT INTO download_counts (order_id, kind, item_id, format, count, first_at, last_at) "
        "VALUES (1, 'pack', 0, 'flac', 2, :n, :n)",
        "INSERT INTO rate_limit_hits (bucket, at) VALUES ('lost:client:x', :n)",
        "INSERT INTO album_folder_refs (album_id, format, dropbox_path, copy_ref, copy_ref_expires_at, "
        "file_count, minted_at) VALUES (1, 'flac', '/x', 'ref', :n, 1, :n)",
    ]
    for statement in statements:
        connection.execute(text(statement), {"n": now, "later": now + timedelta(days=14)})


def test_upgrading_a_database_with_orders_and_deliveries_loses_no_row(empty_database):
    """On SQLite a constraint change copies the table and drops the old one; with foreign
    keys on, that drop would cascade into every row that refers to it (an order's links and
    deliveries, a delivery's files). Every row of the first schema must survive to head."""
    app = create_app(empty_database)
    with app.app_context():
        upgrade(revision=INITIAL)
        with db.engine.begin() as connection:
            _seed_initial_schema(connection)
        upgrade()
        with db.engine.connect() as connection:
            counts = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in SEEDED_TABLES}
            if connection.dialect.name == "sqlite":
                assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        downgrade(revision="base")  # the PostgreSQL test database is shared by the session
        db.engine.dispose()
    assert counts == dict.fromkeys(SEEDED_TABLES, 1)


BEFORE_ARTISTS = "f9c6ebf1d409"


def test_album_artist_names_become_artists_linked_when_spelled_alike(empty_database):
    """Every album keeps its tagged name and gains an artist by that exact name; two spellings
    of one key ("Beyoncé", "Beyonce") stay two artists, the later linked to the first for the
    operator to confirm, never merged."""
    app = create_app(empty_database)
    with app.app_context():
        upgrade(revision=BEFORE_ARTISTS)
        now = datetime.now(UTC)
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO packs (id, slug, title, blurb, starts_at, ends_at, currency, min_price_cents, "
                "suggested_price_cents, created_at) VALUES (1, 'p', 'P', '', :n, :later, 'USD', 100, 500, :n)"),
                {"n": now, "later": now + timedelta(days=14)})
            for album_id, artist, title in ((1, "Beyoncé", "Lemonade"), (2, "Beyonce", "Renaissance"),
                                            (3, "ABBA", "Arrival"), (4, "Beyoncé", "4")):
                connection.execute(text("INSERT INTO albums (id, pack_id, position, artist, title, genre) "
                                        "VALUES (:id, 1, :id, :artist, :title, 'pop')"),
                                   {"id": album_id, "artist": artist, "title": title})
        upgrade()
        with db.engine.connect() as connection:
            albums = connection.execute(text(
                "SELECT albums.title, albums.artist, artists.name FROM albums "
                "JOIN artists ON artists.id = albums.artist_id ORDER BY albums.id")).all()
            artists = {name: (artist_id, key, same_as) for artist_id, name, key, same_as in connection.execute(
                text("SELECT id, name, name_key, same_as_id FROM artists"))}
        downgrade(revision="base")  # the PostgreSQL test database is shared by the session
        db.engine.dispose()
    assert [tuple(row) for row in albums] == [
        ("Lemonade", "Beyoncé", "Beyoncé"), ("Renaissance", "Beyonce", "Beyonce"), ("Arrival", "ABBA", "ABBA"),
        ("4", "Beyoncé", "Beyoncé")]
    assert set(artists) == {"Beyoncé", "Beyonce", "ABBA"}
    assert artists["Beyoncé"][1] == artists["Beyonce"][1] == "beyonce"
    # One of the two spellings is linked to the other (the first by name order), never both.
    linked = {name for name in ("Beyoncé", "Beyonce") if artists[name][2] is not None}
    assert len(linked) == 1
    other = ({"Beyoncé", "Beyonce"} - linked).pop()
    assert artists[linked.pop()][2] == artists[other][0]
    assert artists["ABBA"][2] is None
