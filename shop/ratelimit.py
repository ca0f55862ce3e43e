"""A small sliding-window rate limiter kept in the database (shared by every web worker).

Each counted request is one row in ``rate_limit_hits``. Counting and inserting must be
one step, or callers that arrive together all see the old count and all get through
(review finding M2). So the calls for one bucket are serialised inside the caller's
transaction, and the lock is held until the caller commits or rolls back:

* PostgreSQL: a transaction-level advisory lock on a 64-bit hash of the bucket name. Under
  READ COMMITTED every statement after the lock takes a fresh snapshot, so the count sees
  every hit committed by whoever held the lock before.
* SQLite: the database write lock. The first statement is a DELETE, which takes the lock
  before anything is counted (and, in WAL mode, on a snapshot no older than the lock).

Callers should therefore commit soon after :func:`allow`, before slow work such as
sending mail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, literal, select, text

from shop.extensions import db
from shop.models import RateLimitHit, utcnow


def allow(bucket: str, limit: int, window: timedelta = timedelta(hours=1), *,
          now: datetime | None = None) -> bool:
    """Count one request against ``bucket``; False when the window already holds ``limit``.

    The window slides: a hit counts for ``window`` after it was made, and hits older than
    that are deleted here. Refused requests are not counted, so a client that waits gets
    through again. The check and the count are atomic (see the module docstring). The
    caller commits; a rollback counts nothing.

    :param now: the time of the request (timezone-aware); the current time by default.
    """
    now = now or utcnow()
    since = now - window
    lock(bucket)
    expired = delete(RateLimitHit).where(RateLimitHit.bucket == bucket, RateLimitHit.at < since)
    # Counting stops at the limit: a bucket never costs more than ``limit`` index entries.
    in_window = select(RateLimitHit.id).where(RateLimitHit.bucket == bucket, RateLimitHit.at >= since).limit(limit)
    used = select(func.count()).select_from(in_window.subquery()).scalar_subquery()
    hit = insert(RateLimitHit).from_select(
        ["bucket", "at"],
        select(literal(bucket, RateLimitHit.bucket.type), literal(now, RateLimitHit.at.type)).where(used < limit),
    ).returning(RateLimitHit.id)
    if db.session.connection().dialect.name == "postgresql":
        # The lock is held until the caller commits, and every caller of the bucket waits
        # for it: after the lock, ONE statement (expired hits deleted, the window counted,
        # the hit inserted if there is room) rather than three round trips.
        return db.session.execute(hit.add_cte(expired.cte("expired"))).first() is not None
    db.session.execute(expired)  # SQLite: the first write takes the database's write lock
    return db.session.execute(hit).first() is not None


# allow() on PostgreSQL as one statement, for allow_at_once()'s pipeline (psycopg's own placeholders).
_PIPELINED_HIT = """
WITH expired AS (DELETE FROM rate_limit_hits WHERE bucket = %(bucket)s AND at < %(since)s)
INSERT INTO rate_limit_hits (bucket, at)
SELECT %(bucket)s, %(now)s
WHERE (SELECT count(*) FROM (SELECT 1 FROM rate_limit_hits WHERE bucket = %(bucket)s AND at >= %(since)s
                             LIMIT %(limit)s) AS in_window) < %(limit)s
RETURNING id
"""


def allow_at_once(bucket: str, limit: int, window: timedelta = timedelta(hours=1), *,
                  now: datetime | None = None) -> bool:
    """:func:`allow`, committed at once: the session's transaction (whatever it holds) is
    committed with the hit, and the bucket's lock goes with that commit.

    For a bucket that many requests share at a busy time (every buyer behind one address):
    on PostgreSQL the lock, the counting statement and the COMMIT go to the server together
    in one pipeline, so the lock is held for the server's own work only, never while this
    thread waits for its turn on the CPU between round trips (each of which can take tens of
    milliseconds on a busy machine, with every other caller of the bucket queued behind it).
    On SQLite this is :func:`allow` followed by a commit.
    """
    now = now or utcnow()
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        allowed = allow(bucket, limit, window, now=now)
        db.session.commit()
        return allowed
    db.session.flush()
    driver = connection.connection.driver_connection
    assert driver is not None
    params = {"bucket": bucket, "since": (now - window).astimezone(UTC), "now": now.astimezone(UTC), "limit": limit}
    with driver.cursor() as lock_cursor, driver.cursor() as hit_cursor:
        with driver.pipeline():
            lock_cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%(bucket)s, 0))", params)
            hit_cursor.execute(_PIPELINED_HIT, params)
            driver.commit()  # queued behind the two, then the pipeline is sent and answered
        allowed = hit_cursor.fetchone() is not None
    db.session.commit()  # the session's side of the transaction the driver has just committed
    return allowed


def backoff(bucket: str, free: int, first_delay: timedelta, longest_delay: timedelta,
            window: timedelta, *, now: datetime | None = None) -> timedelta:
    """Take a turn in ``bucket`` unless it must wait: a growing delay instead of a hard limit.

    The first ``free`` hits in the window need no wait; after that each hit must come
    ``first_delay`` after the bucket's newest one, doubling with every further hit, up to
    ``longest_delay``. When the wait is over a hit is recorded (as :func:`allow` does, atomically,
    the caller commits) and ``timedelta(0)`` is returned; otherwise nothing is recorded and
    the time still to wait is returned. Hits leave the window as in :func:`allow`.
    """
    now = now or utcnow()
    since = now - window
    lock(bucket)
    db.session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == bucket, RateLimitHit.at < since))
    in_window = (RateLimitHit.bucket == bucket, RateLimitHit.at >= since)
    used: int = db.session.scalar(select(func.count(RateLimitHit.id)).where(*in_window)) or 0
    newest = db.session.scalar(select(RateLimitHit.at).where(*in_window).order_by(RateLimitHit.at.desc()).limit(1))
    if used >= free and newest is not None:
        delay: timedelta = min(first_delay * 2 ** min(used - free, 32), longest_delay)
        wait: timedelta = newest + delay - now
        if wait > timedelta(0):
            return wait
    db.session.add(RateLimitHit(bucket=bucket, at=now))
    db.session.flush()
    return timedelta(0)


def forget_bucket(bucket_prefix: str) -> int:
    """Delete every hit of the buckets whose names start with ``bucket_prefix`` (an operator's
    way to lift a limit); the caller commits. :returns: how many hits were deleted."""
    escaped = bucket_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = cast(CursorResult[Any], db.session.execute(
        delete(RateLimitHit).where(RateLimitHit.bucket.like(escaped + "%", escape="\\"))
    ))
    return result.rowcount


def forget_last(bucket: str) -> bool:
    """Take back one counted request of ``bucket``, for work that was allowed but could not
    be done (a mail that could not be sent), so the client is not charged for it.

    Call it at most once per :func:`allow` that returned True, in a later transaction if
    need be. It deletes the bucket's newest hit: that may be another request's, made at
    the same time or later than the caller's, which frees the slot no sooner than deleting
    the caller's own would. The caller commits.

    :returns: whether a hit was deleted (False when the bucket holds none, e.g. because
        the caller's hit has already left the window).
    """
    lock(bucket)
    newest = (
        select(RateLimitHit.id)
        .where(RateLimitHit.bucket == bucket)
        .order_by(RateLimitHit.at.desc(), RateLimitHit.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    result = cast(CursorResult[Any], db.session.execute(delete(RateLimitHit).where(RateLimitHit.id == newest)))
    return result.rowcount == 1


def take_turn(name: str) -> None:
    """Serialise the callers that give the same ``name`` until the current transaction ends,
    on both databases (unlike :func:`lock`, which leaves SQLite to the caller's first write).

    PostgreSQL: the advisory lock of :func:`lock`. SQLite: a DELETE that matches nothing
    (no bucket is named like a turn) takes the database's write lock.
    """
    lock(f"turn:{name}")
    if db.session.connection().dialect.name == "sqlite":
        db.session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == f"turn:{name}"))


def lock(bucket: str) -> None:
    """Serialise the calls for ``bucket`` until the current transaction ends.

    On SQLite the caller's first write statement takes the database write lock instead.
    """
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:bucket, 0))"),
                           {"bucket": bucket})
