"""The database rate limiter: atomic under concurrency on SQLite and PostgreSQL, a sliding
window, refusals not counted, buckets independent, and a hit that can be taken back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from shop import ratelimit
from shop.extensions import db
from shop.models import RateLimitHit

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def stored(bucket: str) -> int:
    return db.session.scalar(select(func.count(RateLimitHit.id)).where(RateLimitHit.bucket == bucket))


def test_rate_limit_holds_under_concurrency(app) -> None:
    """Finding M2: callers that all arrive at once must not all see the old count."""
    callers, limit = 16, 3
    results: list[bool] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(callers)

    def one() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(ratelimit.allow("lost:address:victim", limit))
                db.session.commit()
            except Exception as exc:  # reported by the assertion below, not lost in a thread
                db.session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results.count(True) == limit
    assert results.count(False) == callers - limit
    assert stored("lost:address:victim") == limit


def test_allows_up_to_the_limit_and_does_not_count_refusals(app) -> None:
    assert [ratelimit.allow("b", 2, HOUR, now=T0) for _ in range(4)] == [True, True, False, False]
    db.session.commit()
    assert stored("b") == 2  # the two refusals left no rows


def test_the_window_slides(app) -> None:
    assert ratelimit.allow("b", 2, HOUR, now=T0)
    assert ratelimit.allow("b", 2, HOUR, now=T0 + timedelta(minutes=30))
    assert not ratelimit.allow("b", 2, HOUR, now=T0 + timedelta(minutes=59))
    # A hit counts for the whole window, its last instant included.
    assert not ratelimit.allow("b", 2, HOUR, now=T0 + HOUR)
    # Just after, the first hit has left the window; the second is still inside.
    assert ratelimit.allow("b", 2, HOUR, now=T0 + HOUR + SECOND)
    assert not ratelimit.allow("b", 2, HOUR, now=T0 + HOUR + timedelta(minutes=30))
    assert ratelimit.allow("b", 2, HOUR, now=T0 + HOUR + timedelta(minutes=30) + SECOND)
    db.session.commit()
    assert stored("b") == 2  # expired hits are deleted, not just ignored


def test_refused_callers_get_through_once_they_wait(app) -> None:
    assert ratelimit.allow("b", 1, HOUR, now=T0)
    for minutes in range(0, 60, 10):  # retrying inside the window does not extend it
        assert not ratelimit.allow("b", 1, HOUR, now=T0 + timedelta(minutes=minutes))
    assert ratelimit.allow("b", 1, HOUR, now=T0 + HOUR + SECOND)


def test_buckets_are_independent(app) -> None:
    assert ratelimit.allow("lost:client:1", 1, HOUR, now=T0)
    assert not ratelimit.allow("lost:client:1", 1, HOUR, now=T0)
    assert ratelimit.allow("lost:client:2", 1, HOUR, now=T0)
    assert ratelimit.allow("lost:address:1", 1, HOUR, now=T0)
    db.session.commit()
    assert stored("lost:client:1") == stored("lost:client:2") == stored("lost:address:1") == 1


def test_a_rollback_counts_nothing(app) -> None:
    assert ratelimit.allow("b", 1, HOUR)
    db.session.rollback()
    assert ratelimit.allow("b", 1, HOUR)


def test_forget_last_takes_a_hit_back(app) -> None:
    assert ratelimit.allow("b", 2, HOUR, now=T0)
    assert ratelimit.allow("b", 2, HOUR, now=T0 + timedelta(minutes=1))
    assert ratelimit.allow("other", 2, HOUR, now=T0)
    db.session.commit()  # as a view does, before the work that may fail
    assert not ratelimit.allow("b", 2, HOUR, now=T0 + timedelta(minutes=2))

    assert ratelimit.forget_last("b") is True
    db.session.commit()
    assert stored("b") == 1 and stored("other") == 1
    remaining = db.session.scalar(select(RateLimitHit.at).where(RateLimitHit.bucket == "b"))
    assert remaining == T0  # the newest hit went; the window still runs from the first
    assert ratelimit.allow("b", 2, HOUR, now=T0 + timedelta(minutes=3))
    assert not ratelimit.allow("b", 2, HOUR, now=T0 + timedelta(minutes=3))


def test_forget_last_on_an_empty_bucket_does_nothing(app) -> None:
    assert ratelimit.forget_last("empty") is False
    assert ratelimit.allow("b", 1, HOUR)
    assert ratelimit.forget_last("empty") is False
    assert stored("b") == 1
