"""A pack's catalog state, read with the pack: whether it is preparing, and its version.

The store's pack page and the order page read it in the same query as the pack (or the
order), as scalar subqueries correlated to the outer ``packs`` row, and key their
per-process caches (:mod:`shop.page_cache`) on its version.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select

from shop.extensions import db
from shop.models import Album, Encode, Pack, Track, TrackFile, preparing


@dataclass(frozen=True)
class CatalogState:
    """What the pages need to know about a pack's albums, files and encodes, read with the pack.

    ``version`` changes whenever an album, a file or an encode of the pack is added, removed
    or re-encoded (the last encode's end, the counts, the newest file id, the total size),
    and when the operator edits an album's description, credits or lyrics (their last change).
    """

    preparing: bool
    version: tuple[object, ...]

    def cacheable(self, pack: Pack, now: datetime) -> bool:
        """Whether the pack's catalog may be cached: on sale or ended, where nothing edits it
        (the console refuses, shop.admin.pack_form.edit_refusal; the version catches the rest)."""
        return not self.preparing and pack.starts_at <= now


def _of_pack(query: Select[Any], track_id: Any) -> Select[Any]:
    """``query`` limited to the rows whose ``track_id`` is a track of the outer query's pack
    (correlated to it: the subquery must name the outer ``packs`` row, not join its own)."""
    return (query.join(Track, Track.id == track_id).join(Album, Album.id == Track.album_id)
            .where(Album.pack_id == Pack.id).correlate(Pack))


def state_columns() -> list[Any]:
    """The catalog state of the outer query's pack as scalar subqueries correlated to it (each
    reads only that pack's albums, tracks, files and encodes, through their indexes), in the
    order :func:`catalog_state` reads them: :data:`STATE_COLUMNS` of them."""
    return [
        preparing(Pack.id),
        _of_pack(select(func.max(Encode.finished_at)), Encode.track_id).scalar_subquery(),
        select(func.count(Album.id)).where(Album.pack_id == Pack.id).correlate(Pack).scalar_subquery(),
        _of_pack(select(func.count(TrackFile.id)), TrackFile.track_id).scalar_subquery(),
        _of_pack(select(func.coalesce(func.max(TrackFile.id), 0)), TrackFile.track_id).scalar_subquery(),
        _of_pack(select(func.coalesce(func.sum(TrackFile.size), 0)), TrackFile.track_id).scalar_subquery(),
        select(func.max(Album.text_updated_at)).where(Album.pack_id == Pack.id).correlate(Pack).scalar_subquery(),
    ]


#: How many columns :func:`state_columns` (and so :func:`pack_with_state_statement`) adds after the pack.
STATE_COLUMNS = 7


@functools.cache
def pack_with_state_statement(column: str) -> Select[Any]:
    """The pack whose ``column`` is ``:value``, with its catalog state. Built once: building
    and hashing a statement this size costs more than running it."""
    return select(Pack, *state_columns()).where(getattr(Pack, column) == bindparam("value"))


def pack_with_state(column: str, value: object) -> tuple[Pack, CatalogState] | None:
    """The pack whose ``column`` (``slug`` or ``id``) is ``value`` and its :class:`CatalogState`,
    in one query; None when there is no such pack."""
    row = db.session.execute(pack_with_state_statement(column), {"value": value}).first()
    if row is None:
        return None
    return row[0], catalog_state(row[1:STATE_COLUMNS + 1])


def catalog_state(values: Sequence[Any]) -> CatalogState:
    """The :class:`CatalogState` from the state columns of :func:`pack_with_state_statement`."""
    waiting, *version = values
    return CatalogState(preparing=bool(waiting), version=tuple(version))
