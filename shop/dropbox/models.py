"""Rows for Dropbox: encrypted tokens, deliveries and each delivered file.

The database, not the queue, is the truth about a delivery: the queue only carries its
id. A partial unique index allows one active delivery per order, target and format, so
a double click cannot start two.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.extensions import db
from shop.models import Album, Order, TrackFile, UTCDateTime, utcnow


class AlbumFolderRef(db.Model):
    """A copy reference to one album-and-format folder in the store's Dropbox.

    Saving it delivers a whole album in one API call.
    """

    __tablename__ = "album_folder_refs"
    __table_args__ = (
        UniqueConstraint("album_id", "format", name="uq_album_folder_refs_album_format"),
        CheckConstraint("format IN ('mp3', 'flac', 'wav')", name="ck_album_folder_refs_format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    dropbox_path: Mapped[str] = mapped_column(String(600))
    copy_ref: Mapped[str] = mapped_column(String(200))
    copy_ref_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    file_count: Mapped[int] = mapped_column(Integer)
    minted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DropboxConnection(db.Model):
    """A buyer's Dropbox authorisation, one per order. Tokens are Fernet-encrypted."""

    __tablename__ = "dropbox_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    account_id: Mapped[str] = mapped_column(String(64))
    account_email: Mapped[str | None] = mapped_column(String(254))
    account_name: Mapped[str | None] = mapped_column(String(200))
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scope: Mapped[str] = mapped_column(String(300), default="")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[Order] = relationship()


class StoreDropboxAccount(db.Model):
    """The store's own Dropbox (where seeded files live). At most one row."""

    __tablename__ = "store_dropbox_account"
    __table_args__ = (CheckConstraint("id = 1", name="ck_store_dropbox_account_single"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    account_id: Mapped[str] = mapped_column(String(64))
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    NEEDS_RECONNECT = "needs_reconnect"
    DONE = "done"
    FAILED = "failed"


ACTIVE_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.RUNNING, DeliveryStatus.NEEDS_RECONNECT)
# Active and moving by itself (a reconnect needs the buyer): the page keeps polling these.
IN_PROGRESS_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.RUNNING)
_ACTIVE_SQL = "status IN ('queued', 'running', 'needs_reconnect')"


class FileStatus(enum.StrEnum):
    PENDING = "pending"
    COPYING = "copying"
    DONE = "done"
    FAILED = "failed"


class Delivery(db.Model):
    """One "Add to Dropbox" click: an album (``album:<id>``) or the pack, in one format."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'needs_reconnect', 'done', 'failed')", name="ck_deliveries_status"
        ),
        CheckConstraint("format IN ('mp3', 'flac', 'wav')", name="ck_deliveries_format"),
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

    order: Mapped[Order] = relationship()
    files: Mapped[list[DeliveryFile]] = relationship(
        back_populates="delivery", order_by="DeliveryFile.position", cascade="all, delete-orphan"
    )

    @property
    def job_id(self) -> str:
        return f"delivery-{self.id}"

    @property
    def album_id(self) -> int | None:
        return int(self.target.split(":", 1)[1]) if self.target.startswith("album:") else None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class DeliveryFile(db.Model):
    """One file of a delivery and where it ended up in the buyer's Dropbox."""

    __tablename__ = "delivery_files"
    __table_args__ = (
        UniqueConstraint("delivery_id", "track_file_id", name="uq_delivery_files_file"),
        CheckConstraint("status IN ('pending', 'copying', 'done', 'failed')", name="ck_delivery_files_status"),
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
