"""A small sliding-window rate limiter kept in the database (shared by every web worker)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select

from shop.extensions import db
from shop.models import RateLimitHit, utcnow


def allow(bucket: str, limit: int, window: timedelta = timedelta(hours=1)) -> bool:
    """Count one request against ``bucket``; False when the window already holds ``limit``.

    Refused requests are not counted, so a client that waits gets through again.
    The caller commits.
    """
    now = utcnow()
    since = now - window
    db.session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == bucket, RateLimitHit.at < since))
    used = db.session.scalar(
        select(func.count(RateLimitHit.id)).where(RateLimitHit.bucket == bucket, RateLimitHit.at >= since)
    )
    if used >= limit:
        return False
    db.session.add(RateLimitHit(bucket=bucket, at=now))
    return True
