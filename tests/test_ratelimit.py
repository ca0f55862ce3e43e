"""The database rate limiter: atomic under concurrency on SQLite and PostgreSQL, a sliding
window, refusals not counted, buckets independent, and a hit that can be taken back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from shop import ratelimit
from shop.extensions import db
from shop.models import RateLimitHit

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def stored(bucket: str) -> int:
    return db.session.scalar(select(func.count(RateLimitHit.id)).where(RateLimitHit.bucket == bucket))


def all_at_once(app, callers: int, call) -> list[bool]:
    """``call()`` from ``callers`` threads released together, each in its own app context and
    session; what each returned (an exception in a thread fails the test here)."""
    results: list[bool] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(callers)

    def one() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(call())
                db.session.commit()
            except Exception as exc:  # reported by the assertion below, not lost in a thread
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_rate_limit_holds_under_concurrency(app) -> None:
    """Finding M2: callers that all arrive at once must not all see the old count."""
    callers, limit = 16, 3
    results = all_at_once(app, callers, lambda: ratelimit.allow("lost:address:victim", limit))
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


# -- backoff: a growing wait instead of a hard limit (the console's login, review finding L5) --

FREE, FIRST, LONGEST = 2, timedelta(seconds=2), timedelta(seconds=30)


def backoff(now: datetime, bucket: str = "slow") -> timedelta:
    return ratelimit.backoff(bucket, FREE, FIRST, LONGEST, HOUR, now=now)


def test_backoff_is_free_at_first_then_doubles_up_to_the_longest_wait(app) -> None:
    assert backoff(T0) == backoff(T0) == timedelta(0)
    assert backoff(T0) == FIRST  # third hit: 2 s after the newest
    now, waits = T0, []
    for _ in range(6):
        now += backoff(now)
        assert backoff(now) == timedelta(0)  # the wait is over: this one counts
        waits.append(backoff(now))
    assert [w.total_seconds() for w in waits] == [4, 8, 16, 30, 30, 30]


def test_backoff_refusals_are_not_counted_so_they_never_lengthen_the_wait(app) -> None:
    backoff(T0), backoff(T0)
    for second in range(2):
        assert backoff(T0 + second * SECOND) == FIRST - second * SECOND
    db.session.commit()
    assert stored("slow") == FREE
    assert backoff(T0 + FIRST) == timedelta(0)


def test_backoff_forgets_hits_that_left_the_window(app) -> None:
    for _ in range(5):
        backoff(T0 + LONGEST * 10)
    assert backoff(T0 + LONGEST * 10 + HOUR + SECOND) == timedelta(0)


def test_backoff_holds_under_concurrency(app) -> None:
    """Callers arriving together after the free hits: one takes the turn, the rest wait."""
    backoff(datetime.now(UTC) - HOUR / 2, "racy"), backoff(datetime.now(UTC) - HOUR / 2, "racy")
    db.session.commit()
    callers = 12
    results: list[timedelta] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(callers)

    def one() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(ratelimit.backoff("racy", FREE, FIRST, LONGEST, HOUR))
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
    assert results.count(timedelta(0)) == 1 and len(results) == callers
    assert stored("racy") == FREE + 1


def test_forget_bucket_clears_every_bucket_under_a_prefix_and_only_those(app) -> None:
    for bucket in ("login:a", "login:a:client:1", "login:a:client:2", "login:ab", "login:b"):
        ratelimit.allow(bucket, 5, HOUR, now=T0)
    assert ratelimit.forget_bucket("login:a:") == 2
    assert ratelimit.forget_bucket("login:a") == 2  # "login:a" and "login:ab"
    ratelimit.allow("login:a%", 5, HOUR, now=T0)
    assert ratelimit.forget_bucket("login:a%") == 1  # a wildcard in the prefix is a plain character
    db.session.commit()
    assert stored("login:b") == 1


# -- allow_at_once: the buy's and the Stripe return's limiter (issue 19, item 9) -----------------


def test_allow_at_once_counts_like_allow_and_commits(app) -> None:
    assert [ratelimit.allow_at_once("rush", 2, HOUR, now=T0) for _ in range(3)] == [True, True, False]
    db.session.rollback()  # nothing left to roll back: the hits are committed
    assert stored("rush") == 2
    assert ratelimit.allow_at_once("rush", 2, HOUR, now=T0 + HOUR + SECOND)
    assert stored("rush") == 1  # the expired hits went, as with allow()


def test_allow_at_once_commits_what_the_session_held(app) -> None:
    assert ratelimit.allow("before", 5, HOUR, now=T0)  # uncommitted, in the session's transaction
    assert ratelimit.allow_at_once("rush", 5, HOUR, now=T0)
    db.session.rollback()
    assert stored("before") == 1 and stored("rush") == 1


def test_allow_at_once_holds_under_concurrency(app) -> None:
    callers, limit = 16, 3
    results = all_at_once(app, callers, lambda: ratelimit.allow_at_once("lost:address:rush", limit))
    assert results.count(True) == limit
    assert stored("lost:address:rush") == limit


def test_allow_at_once_leaves_the_lock_free_when_it_returns(app) -> None:
    """Another connection can take the bucket's lock as soon as the call returns (on
    PostgreSQL the lock is a transaction's; on SQLite the write lock is the database's)."""
    assert ratelimit.allow_at_once("rush", 5, HOUR)
    engine = db.engines[None]
    with engine.connect() as other:
        if engine.dialect.name == "postgresql":
            taken = other.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended('rush', 0))"))
        else:
            other.execute(text("DELETE FROM rate_limit_hits WHERE bucket = 'nothing'"))  # needs the write lock
            taken = True
        other.rollback()
    assert taken
