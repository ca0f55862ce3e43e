"""Counting completed downloads, and reading the counts for the order page.

What counts: a response that has handed the **last byte of the resource** to the
socket. That is a full 200, or a 206 whose range runs to the end -- so a download that
breaks off and is resumed (``curl -C -``, a browser's resume, a download manager) counts
once, when the resume finishes, and the broken-off part does not count. HEAD, 304, 416
and ranges that stop before the end never count. A client that fetches only the last
byte (``bytes=SIZE-1-``) does count: the server cannot tell it from the final piece of a
resume, and with no download caps an over-count costs nobody anything.

Listening is not downloading: the order page's player (``downloads.listen``, kind
``"stream"``) is never counted, so playing a track uses up nothing and the page's counts
stay counts of downloads.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, cast

from flask import Flask
from sqlalchemy import CursorResult, Select, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from shop.downloads.models import PACK_ITEM_ID, DownloadCount
from shop.extensions import db
from shop.models import Order, utcnow

log = logging.getLogger(__name__)

CountKey = tuple[str, int | None, str]


def record_download(order_id: int, kind: str, item_id: int | None, fmt: str) -> None:
    """Add one completed download and commit.

    The increment is a single ``UPDATE ... SET count = count + 1``, so concurrent
    completions never lose a count; the first completion inserts the row, and a
    concurrent first insert that loses the race on the unique constraint falls back to
    the update.
    """
    item = PACK_ITEM_ID if item_id is None else item_id
    now = utcnow()
    match = (
        (DownloadCount.order_id == order_id) & (DownloadCount.kind == kind)
        & (DownloadCount.item_id == item) & (DownloadCount.format == fmt)
    )
    increment = (
        update(DownloadCount).where(match).values(count=DownloadCount.count + 1, last_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], db.session.execute(increment)).rowcount == 0:
        try:
            with db.session.begin_nested():
                db.session.add(DownloadCount(order_id=order_id, kind=kind, item_id=item, format=fmt,
                                             count=1, first_at=now, last_at=now))
        except IntegrityError:
            db.session.execute(increment)
    db.session.commit()


def record_download_later(app: Flask, order_id: int, kind: str, item_id: int | None,
                          fmt: str) -> Callable[[], None]:
    """A callable that records the download in its own app context.

    It runs after the view has returned (when the last chunk has been written), so it
    cannot use the request's context. A failure is logged, never raised: the buyer has
    the bytes either way.
    """

    def record() -> None:
        try:
            with app.app_context():
                record_download(order_id, kind, item_id, fmt)
        except Exception:
            log.exception("could not count a download of %s %s %s for order %s",
                          kind, item_id, fmt, order_id)

    return record


@functools.cache
def _counts_statement() -> Select[tuple[str, int, str, int]]:
    """The download counts of the order ``:order_id``, built once (the order page reads them)."""
    return select(DownloadCount.kind, DownloadCount.item_id, DownloadCount.format, DownloadCount.count).where(
        DownloadCount.order_id == bindparam("order_id"))


def download_counts(order: Order) -> dict[CountKey, int]:
    """Completed downloads of ``order``'s items.

    :returns: ``{("album", album_id, fmt): n, ("track", track_id, fmt): n,
        ("pack", None, fmt): n}``; items never downloaded completely are absent
        (use ``.get(key, 0)``).
    """
    rows = db.session.execute(_counts_statement(), {"order_id": order.id})
    return {
        (kind, None if kind == "pack" else item_id, fmt): int(count)
        for kind, item_id, fmt, count in rows
    }
