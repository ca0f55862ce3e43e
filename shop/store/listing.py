"""Which packs the store shows: home, the feed and an ended pack's "next pack" line.

A pack with no albums is not listed anywhere (it would advertise nothing); its own page
still answers, so an operator can look at it while filling it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from shop.extensions import db
from shop.models import Album, Pack

HAS_ALBUMS = exists().where(Album.pack_id == Pack.id)


def listed_packs() -> Sequence[Pack]:
    """Every pack that has at least one album, by end date, with its albums (home and the feed
    show them: two queries, however many packs)."""
    return db.session.scalars(
        select(Pack).where(HAS_ALBUMS).order_by(Pack.ends_at, Pack.id).options(selectinload(Pack.albums))
    ).all()


def next_pack(after: Pack, now: datetime) -> Pack | None:
    """The first listed pack that has not ended and is not ``after``: on sale now, or the
    next one announced. ``None`` when nothing is coming."""
    return db.session.scalars(
        select(Pack).where(HAS_ALBUMS, Pack.ends_at > now, Pack.id != after.id)
        .order_by(Pack.starts_at, Pack.id).limit(1)
    ).first()
