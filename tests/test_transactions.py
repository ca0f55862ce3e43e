"""How requests end their transactions (shop/transactions.py): a request that only read
commits, so PostgreSQL keeps psycopg's prepared statements between requests; anything that
wrote and was not committed by its view is rolled back, as before."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from flask import Flask, abort
from sqlalchemy import event, func, select, text, update

from shop.extensions import db
from shop.models import Pack
from tests import factories

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def add_test_views(app: Flask) -> None:
    @app.get("/test/flush-then-abort")
    def flush_then_abort() -> str:
        db.session.add(Pack(slug="ghost", title="Ghost", starts_at=factories.utcnow(), ends_at=factories.utcnow(),
                            currency="EUR", min_price_cents=100, suggested_price_cents=100))
        db.session.flush()
        abort(400, "changed my mind")

    @app.get("/test/update-then-abort")
    def update_then_abort() -> str:
        db.session.execute(update(Pack).values(title="Renamed"))
        abort(409, "changed my mind")

    @app.get("/test/read-then-fail")
    def read_then_fail() -> str:
        db.session.scalar(select(func.count(Pack.id)))
        raise RuntimeError("boom")


@pytest.fixture
def own_app(served_app: Callable[..., Flask]) -> Flask:
    """An app whose requests tear down as under gunicorn, with views that write and abort."""
    return served_app(routes=add_test_views)


@pytest.fixture
def transaction_ends(own_app: Flask) -> Counter[str]:
    ends: Counter[str] = Counter()
    with own_app.app_context():
        engine = db.engine
    event.listen(engine, "commit", lambda conn: ends.update(["commit"]))
    event.listen(engine, "rollback", lambda conn: ends.update(["rollback"]))
    return ends


def titles(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Pack.title).order_by(Pack.slug)))


def test_a_page_that_only_reads_commits(own_app: Flask, transaction_ends: Counter[str]) -> None:
    client = own_app.test_client()
    assert client.get("/packs/spring-pack").status_code == 200
    assert client.get("/packs/spring-pack/stats.json").status_code == 200
    assert transaction_ends == {"commit": 2}


def test_writes_a_view_did_not_commit_are_rolled_back(own_app: Flask, transaction_ends: Counter[str]) -> None:
    own_app.config["PROPAGATE_EXCEPTIONS"] = False
    before = titles(own_app)
    transaction_ends.clear()  # reading them committed
    client = own_app.test_client()
    assert client.get("/test/flush-then-abort").status_code == 400
    assert client.get("/test/update-then-abort").status_code == 409
    assert transaction_ends == {"rollback": 2}
    assert titles(own_app) == before == ["Spring Pack"]
    # A failure after reads only: nothing to keep, nothing lost either way.
    assert client.get("/test/read-then-fail").status_code == 500
    assert titles(own_app) == before


def test_a_view_that_commits_is_not_committed_twice(own_app: Flask, transaction_ends: Counter[str]) -> None:
    client = own_app.test_client()
    response = client.post("/orders/lost", data={"email": "nobody@example.com"})
    assert response.status_code == 200
    # The rate-limit hits are committed by the view; the reads after it end with a commit too.
    assert transaction_ends["rollback"] == 0
    assert transaction_ends["commit"] >= 1


def test_prepared_statements_outlive_a_request_on_postgresql(own_app: Flask) -> None:
    if own_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("psycopg's prepared statements are PostgreSQL's")
    client = own_app.test_client()
    for _ in range(8):  # psycopg prepares a statement on its sixth run on a connection
        assert client.get("/packs/spring-pack").status_code == 200
    with own_app.app_context():
        # Requests run one at a time here, so the pool holds the one connection they used.
        assert db.engine.pool.checkedin() == 1
        prepared = db.session.scalar(text(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM packs%'"))
    assert prepared >= 1
