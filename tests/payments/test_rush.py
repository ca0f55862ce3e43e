"""The buy path under a rush (issue 19, item 9): every buyer behind one address shares the
per-client rate-limit buckets of the buy and of Stripe's return, and a bucket's lock is held
until the transaction that counted ends. So the count is committed, and the lock released,
before anything else of the request happens: by the time the buy looks for a pending order
to reuse, or the return reads the session's record, another connection can already take the
lock and sees the hit. On PostgreSQL the lock, the count and the COMMIT go to the server in
one pipeline (:func:`shop.ratelimit.allow_at_once`).

The protections themselves are tested where they are made (tests/test_ratelimit.py,
tests/test_review_findings.py, tests/payments/test_payment_integrity.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from shop.extensions import db
from shop.models import Order, RateLimitHit
from tests import factories
from tests.payments.conftest import Emulated

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def probe(bucket: str) -> dict[str, Any]:
    """From another connection: is ``bucket``'s hit committed, and (PostgreSQL) is its lock free?"""
    engine = db.engines[None]
    with engine.connect() as other:
        hits = other.scalar(select(func.count(RateLimitHit.id)).where(RateLimitHit.bucket == bucket))
        if engine.dialect.name == "postgresql":
            free = other.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:b, 0))"), {"b": bucket})
        else:  # SQLite's lock is the database's write lock, which the buy takes again for its order
            free = True
        other.rollback()
    return {"hits": hits, "lock free": free}


def probing(bucket: str, seen: list[dict[str, Any]], step: Callable[..., Any]) -> Callable[..., Any]:
    def probed(*args: Any, **kwargs: Any) -> Any:
        seen.append(probe(bucket))
        return step(*args, **kwargs)
    return probed


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many psycopg pipelines were opened (the real one is used)."""
    opened: list[int] = []
    pipeline = psycopg.Connection.pipeline

    def counted(self: psycopg.Connection[Any]) -> Any:
        opened.append(1)
        return pipeline(self)

    monkeypatch.setattr(psycopg.Connection, "pipeline", counted)
    return opened


def test_a_buy_commits_its_count_and_frees_the_clients_lock_before_the_order_work(
        app: Flask, emulated: Emulated, monkeypatch: pytest.MonkeyPatch, pipelines: list[int]) -> None:
    import shop.store.checkout as checkout

    pack = factories.make_pack(app)
    client: FlaskClient = app.test_client()
    assert client.get(f"/packs/{pack.slug}").status_code == 200
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(checkout, "_recent_pending_order",
                        probing("buy:client:203.0.113.9", seen, checkout._recent_pending_order))
    bought = client.post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "fan@example.com"},
                         environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert bought.status_code == 303, bought.status_code
    assert seen == [{"hits": 1, "lock free": True}]
    assert len(pipelines) == (1 if db.engines[None].dialect.name == "postgresql" else 0)
    db.session.remove()
    assert len(db.session.scalars(select(Order)).all()) == 1  # the order was still written, once


def test_the_stripe_return_commits_its_count_and_frees_the_lock_before_reading_the_session(
        app: Flask, monkeypatch: pytest.MonkeyPatch, pipelines: list[int]) -> None:
    import shop.payments.stripe_views as stripe_views

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(stripe_views, "recorded_session",
                        probing("stripe-return:client:203.0.113.10", seen, stripe_views.recorded_session))
    answer = app.test_client().get("/payments/stripe/return?session_id=cs_rush1",
                                   environ_base={"REMOTE_ADDR": "203.0.113.10"})
    assert answer.status_code == 404  # not a session the store made: answered from the database
    assert seen == [{"hits": 1, "lock free": True}]
    assert len(pipelines) == (1 if db.engines[None].dialect.name == "postgresql" else 0)
