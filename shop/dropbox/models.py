"""Rows for Dropbox: encrypted tokens, deliveries and each delivered file.

The database, not the queue, is the truth about a delivery: the queue only carries its
id. A partial unique index allows one active delivery per order, target and format, so
a double click cannot start two.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.columns import UTCDateTime
from shop.crypto import ENCRYPTED
from shop.extensions import Model
from shop.models import FORMATS, Album, Order, TrackFile, utcnow

# A delivery's target: the whole pack, or ``album:<id>``. A string rather than a nullable
# album id because NULLs never collide in the partial unique index below (the same reason
# DownloadCount uses PACK_ITEM_ID = 0).
PACK_TARGET = "pack"


def delivery_target(album_id: int | None) -> str:
    """The target string of one album's delivery, or of the pack's when ``album_id`` is None."""
    return PACK_TARGET if album_id is None else f"album:{album_id}"


def sql_in(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')`` for a check constraint, from an enum or a tuple of names."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class AlbumFolderRef(Model):
    """A copy reference to one album-and-format folder in the store's Dropbox.

    Saving it delivers a whole album in one API call.
    """

    __tablename__ = "album_folder_refs"
    __table_args__ = (
        UniqueConstraint("album_id", "format", name="uq_album_folder_refs_album_format"),
        CheckConstraint(sql_in("format", FORMATS), name="ck_album_folder_refs_format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    dropbox_path: Mapped[str] = mapped_column(String(600))
    copy_ref: Mapped[str] = mapped_column(String(200))
    copy_ref_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    file_count: Mapped[int] = mapped_column(Integer)
    minted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DropboxConnection(Model):
    """A buyer's Dropbox authorisation, one per order. Tokens are Fernet-encrypted."""

    __tablename__ = "dropbox_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    account_id: Mapped[str] = mapped_column(String(64))
    account_email: Mapped[str | None] = mapped_column(String(254))
    account_name: Mapped[str | None] = mapped_column(String(200))
    refresh_token_enc: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    access_token_enc: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scope: Mapped[str] = mapped_column(String(300), default="")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[Order] = relationship()


class StoreDropboxAccount(Model):
    """The store's own Dropbox (where seeded files live). At most one row."""

    __tablename__ = "store_dropbox_account"
    __table_args__ = (CheckConstraint("id = 1", name="ck_store_dropbox_account_single"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    account_id: Mapped[str] = mapped_column(String(64))
    refresh_token_enc: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    NEEDS_RECONNECT = "needs_reconnect"
    DONE = "done"
    FAILED = "failed"
    # Stopped for good because the order is no longer paid (refunded, disputed); ``error`` says why.
    CANCELLED = "cancelled"
    # The buyer's Dropbox ran out of space mid-way: what arrived stays, Retry goes on once there is room.
    NEEDS_SPACE = "needs_space"


ACTIVE_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.RUNNING, DeliveryStatus.NEEDS_RECONNECT,
                   DeliveryStatus.NEEDS_SPACE)
# Statuses a delivery ends a run in, waiting for the buyer (see shop.dropbox.notify).
WAITING_FOR_BUYER_STATUSES = (DeliveryStatus.NEEDS_RECONNECT, DeliveryStatus.NEEDS_SPACE)
# Active and moving by itself (a reconnect or more space needs the buyer): the page keeps polling these.
IN_PROGRESS_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.RUNNING)
_ACTIVE_SQL = sql_in("status", ACTIVE_STATUSES)


class FileStatus(enum.StrEnum):
    PENDING = "pending"
    COPYING = "copying"
    DONE = "done"
    FAILED = "failed"


class Delivery(Model):
    """One "Add to Dropbox" click: an album or the pack (see :func:`delivery_target`), in one format."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(sql_in("status", DeliveryStatus), name="ck_deliveries_status"),
        CheckConstraint(sql_in("format", FORMATS), name="ck_deliveries_format"),
        Index(
            "uq_deliveries_one_active",
            "order_id",
            "target",
            "format",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.QUEUED.value)
    error: Mapped[str | None] = mapped_column(Text)
    used_fallback: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(120))
    # When the buyer was e-mailed that this run ended (set before sending; cleared by a retry).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship()
    files: Mapped[list[DeliveryFile]] = relationship(
        back_populates="delivery", order_by="DeliveryFile.position", cascade="all, delete-orphan"
    )

    @property
    def job_id(self) -> str:
        return f"delivery-{self.id}"


class DeliveryFile(Model):
    """One file of a delivery and where it ended up in the buyer's Dropbox."""

    __tablename__ = "delivery_files"
    __table_args__ = (
        UniqueConstraint("delivery_id", "track_file_id", name="uq_delivery_files_file"),
        CheckConstraint(sql_in("status", FileStatus), name="ck_delivery_files_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    track_file_id: Mapped[int] = mapped_column(ForeignKey("track_files.id"))
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id"))
    position: Mapped[int] = mapped_column(Integer)
    folder: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default=FileStatus.PENDING.value)
    method: Mapped[str | None] = mapped_column(String(20))
    final_path: Mapped[str | None] = mapped_column(String(600))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    delivery: Mapped[Delivery] = relationship(back_populates="files")
    track_file: Mapped[TrackFile] = relationship()
    album: Mapped[Album] = relationship()

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.name}"
