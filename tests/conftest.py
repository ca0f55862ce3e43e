"""Fixtures shared by the whole suite.

The ``app`` fixture runs every test that uses it on SQLite. When ``TEST_DATABASE_URL`` is
set, the tests marked ``postgresql`` (those where the engine itself is under test: locks and
races, constraints, migrations, money sums and reports, SQL functions) run once more on
PostgreSQL, in a database each test process creates and drops, so the server's own databases
are never touched. ``TEST_POSTGRESQL=all`` runs every database test on both.
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import werkzeug.test
from flask import Flask
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import make_url

from shop import create_app
from shop.extensions import db
from tests import factories
from tests.catalog.audio import write_noisy_album

# The fixtures several folders share (redis_server, smtp_server, inbox, store_server, start_worker).
pytest_plugins = ["tests.fixtures"]

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
EVERY_TEST_ON_POSTGRESQL = os.environ.get("TEST_POSTGRESQL") == "all"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The databases a test runs on: SQLite always, PostgreSQL too for a test marked
    ``postgresql`` (on itself, its class or its module's ``pytestmark``)."""
    if "database_url" not in metafunc.fixturenames:
        return
    both = EVERY_TEST_ON_POSTGRESQL or metafunc.definition.get_closest_marker("postgresql") is not None
    metafunc.parametrize("database_url", BACKENDS if both else BACKENDS[:1], indirect=True)


# The slow system tests' folders run first: with a test process per core (``make test``) the
# longest modules then start early and the many short ones fill in around them.
SLOW_FIRST = ("browser", "multihost")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.parent.name not in SLOW_FIRST)  # stable: the order is kept within


@pytest.fixture(scope="session", autouse=True)
def multipart_boundaries_within_rfc_2046() -> Iterator[None]:
    """The test client's multipart bodies get a boundary of RFC 2046's 70 characters at most.

    Werkzeug's own is built from ``time()`` and ``random()``, 66 to 72 characters long: about
    one form in 400 gets a boundary over 70, which the console's upload parser refuses (as it
    should, see ``shop/admin/multipart.py``), so an upload test would fail at random."""
    encode = werkzeug.test.stream_encode_multipart

    def within_limit(data, use_tempfile=True, threshold=1024 * 500, boundary=None):
        return encode(data, use_tempfile, threshold, boundary or f"----------------TestFormPart{secrets.token_hex(16)}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(werkzeug.test, "stream_encode_multipart", within_limit)
        yield


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin_url = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    name = f"shop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'shop.sqlite3'}"


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict:
    """Settings for a test app; tests may change entries before asking for ``app``."""
    return {
        "TESTING": True,
        "ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "MAIL_URL": None,
        "BASE_URL": "http://shop.test",
        "SERVER_NAME": None,
        "WTF_CSRF_ENABLED": False,
    }


@pytest.fixture
def app_overrides() -> dict:
    """Extra settings; test packages override this fixture (not ``app_config``, which is parametrized)."""
    return {}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the models' schema, built once per run: each test's database starts
    as a copy of it (a file copy instead of building every table and index again)."""
    folder = tmp_path_factory.mktemp("schema")
    path = folder / "template.sqlite3"
    template = create_app({"TESTING": True, "ENV": "testing", "SECRET_KEY": "template",
                           "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "MEDIA_ROOT": str(folder / "media"),
                           "OUTBOX_DIR": str(folder / "outbox"), "MAIL_URL": None})
    with template.app_context():
        db.create_all()
        db.engine.dispose()
    return path


@pytest.fixture
def app(app_config: dict, app_overrides: dict, request: pytest.FixtureRequest):
    """The app on a database with the models' schema and no rows.

    SQLite: each test has its own file, copied from :func:`sqlite_template`. PostgreSQL: the
    run's database keeps its schema between tests and is emptied after each one
    (:func:`empty_tables`), which costs a few DELETEs instead of dropping and building every
    table.
    """
    config = {**app_config, **app_overrides}
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        shutil.copyfile(request.getfixturevalue("sqlite_template"), url.database)
    app = create_app(config)
    with app.app_context():
        db.create_all()  # nothing to do on a copied template or a kept schema
        try:
            yield app
        finally:
            db.session.remove()
            if db.engine.dialect.name != "sqlite":  # a SQLite file goes with the test's tmp_path
                empty_tables()
            db.engine.dispose()


def empty_tables() -> None:
    """Delete every row of the models' tables and restart their id sequences (PostgreSQL).

    A test that dropped tables (or left the schema otherwise changed) gets the schema dropped
    instead, so the next test builds it afresh.
    """
    tables = db.metadata.sorted_tables
    with db.engine.begin() as connection:
        present = set(inspect(connection).get_table_names())
        if not {table.name for table in tables} <= present:
            db.metadata.drop_all(connection)
            return
        for table in reversed(tables):
            connection.execute(table.delete())
        connection.execute(text("SELECT setval(c.oid, 1, false) FROM pg_class c "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE c.relkind = 'S' AND n.nspname = current_schema()"))


@pytest.fixture
def empty_database(app_config: dict) -> dict:
    """``app_config`` on a database with no tables at all (for migration tests): the run's
    PostgreSQL database otherwise keeps the schema that earlier tests' ``app`` built."""
    engine = create_engine(app_config["SQLALCHEMY_DATABASE_URI"])
    try:
        existing = MetaData()
        existing.reflect(engine)
        existing.drop_all(engine)
    finally:
        engine.dispose()
    return app_config


@pytest.fixture
def served_app(app_config: dict) -> Iterator[Callable[..., Flask]]:
    """``served_app(routes=None, **settings)``: an app, with the pack of :func:`tests.factories.make_pack`,
    whose requests each run in their own app context, as under gunicorn. (The ``app`` fixture
    keeps one context open for the whole test, so its requests share ``g`` and never tear
    down.) ``routes(app)`` may add test-only views before the first request."""
    made: list[Flask] = []

    def serve(routes: Callable[[Flask], None] | None = None, **settings: object) -> Flask:
        served = create_app({**app_config, **settings})
        if routes is not None:
            routes(served)
        with served.app_context():
            db.create_all()
            factories.make_pack(served)
        made.append(served)
        return served

    yield serve
    for served in made:
        with served.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture(scope="session")
def noisy_album(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An album folder of two noise-rich 24-second FLAC masters (about 3.3 MB each, real
    entropy) and a cover, made once per test session (see :mod:`tests.catalog.audio`).
    Shared: read it or copy it, never change it."""
    folder = tmp_path_factory.mktemp("noisy") / "Static Bloom - Hiss Garden"
    return write_noisy_album(folder, "Static Bloom", "Hiss Garden", ["Tape Hiss", "Rain on Tin"])


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def pack(app):
    """An on-sale pack of two albums with real files in storage (see :mod:`tests.factories`)."""
    return factories.make_pack(app)


@pytest.fixture
def ended_pack(app):
    return factories.make_pack(app, slug="old-pack", starts_in=-timedelta(days=20), lasts=timedelta(days=14))


@pytest.fixture
def paid_order(app, pack):
    """``(order, token)`` for a paid order of ``pack``."""
    return factories.make_order(app, pack, paid=True)
