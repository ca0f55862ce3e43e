"""What every ``models.py`` of the store builds its tables with: the UTC datetime column type
and the ``IN (...)`` check constraint of an enum-like column; and :func:`as_utc`, the one rule
for the naive UTC datetimes that SQLite, RQ and the Dropbox SDK hand back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def sql_in(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')`` for a check constraint, from an enum or a tuple of names."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else as_utc(value)

