"""How often each item of an order has been downloaded completely."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shop.columns import UTCDateTime, sql_in
from shop.extensions import Model
from shop.models import FORMATS, utcnow

# ``item_id`` of the whole-pack zip. Not NULL: NULLs never collide in a unique
# constraint (SQLite and PostgreSQL alike), and one row per item is the point.
PACK_ITEM_ID = 0


class DownloadCount(Model):
    """One row per (order, kind, item, format), counting completed downloads.

    ``kind`` is ``track`` (``item_id`` is a track id), ``album`` (an album id) or ``pack``
    (``item_id`` is 0). There is no foreign key from ``item_id``: it points at one of two
    tables depending on ``kind``, and a count outliving a re-imported album is harmless.
    """

    __tablename__ = "download_counts"
    __table_args__ = (
        UniqueConstraint("order_id", "kind", "item_id", "format", name="uq_download_counts_item"),
        CheckConstraint("kind IN ('track', 'album', 'pack')", name="ck_download_counts_kind"),
        CheckConstraint("(kind = 'pack') = (item_id = 0)", name="ck_download_counts_pack_item"),
        CheckConstraint("item_id >= 0", name="ck_download_counts_item_id"),
        CheckConstraint(sql_in("format", FORMATS), name="ck_download_counts_format"),
        CheckConstraint("count >= 1", name="ck_download_counts_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    item_id: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(8))
    count: Mapped[int] = mapped_column(BigInteger, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
