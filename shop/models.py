"""Database models: the catalog (packs, albums, tracks, files) and orders.

Invariants that matter for money and delivery are database constraints, so they hold
even when application code is wrong: unique slugs and link-token hashes, one file row per
track and format, non-negative prices, a paid order has a payment time.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Exists,
    ForeignKey,
    Index,
    Integer,
    SQLColumnExpression,
    String,
    Text,
    UniqueConstraint,
    false,
    select,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from shop.columns import UTCDateTime, sql_in
from shop.extensions import Model
from shop.formats import FORMAT_IDS

#: Every buyer format id, in display order (see :mod:`shop.formats`).
FORMATS: tuple[str, ...] = FORMAT_IDS
#: The ``format`` of a track's preview clip in :class:`Encode`.
PREVIEW = "preview"

PACK_DURATION = timedelta(days=14)
DEFAULT_MIN_PRICE_CENTS = 100
DEFAULT_SUGGESTED_PRICE_CENTS = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


def _two_weeks_after_start(context: DefaultExecutionContext) -> datetime:
    """A pack is on sale for two weeks unless told otherwise."""
    starts_at: datetime = context.get_current_parameters()["starts_at"]  # type: ignore[no-untyped-call]
    return starts_at + PACK_DURATION


class Pack(Model):
    __tablename__ = "packs"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ck_packs_window"),
        CheckConstraint("min_price_cents >= 0", name="ck_packs_min_price"),
        CheckConstraint("suggested_price_cents >= min_price_cents", name="ck_packs_suggested"),
        CheckConstraint("split_artists >= 0 AND split_charity >= 0 AND split_store >= 0 "
                        "AND split_artists + split_charity + split_store = 100", name="ck_packs_split"),
        CheckConstraint("store_min_percent BETWEEN 0 AND 100 AND charity_min_percent BETWEEN 0 AND 100",
                        name="ck_packs_split_minimums"),
        CheckConstraint("charity_name IS NOT NULL OR (split_charity = 0 AND charity_min_percent = 0)",
                        name="ck_packs_charity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    blurb: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_two_weeks_after_start)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    min_price_cents: Mapped[int] = mapped_column(Integer, default=DEFAULT_MIN_PRICE_CENTS)
    suggested_price_cents: Mapped[int] = mapped_column(Integer, default=DEFAULT_SUGGESTED_PRICE_CENTS)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The pay box (shop.store.paybox): the default split in whole percent, minimums, a charity,
    # preset amounts in minor units ("500 1000"; empty: the page's defaults).
    split_artists: Mapped[int] = mapped_column(Integer, default=90, server_default="90")
    split_charity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    split_store: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    store_min_percent: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    charity_name: Mapped[str | None] = mapped_column(String(200))
    charity_min_percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    preset_amounts: Mapped[str] = mapped_column(String(200), default="", server_default="")

    albums: Mapped[list[Album]] = relationship(
        back_populates="pack", order_by="Album.position", cascade="all, delete-orphan"
    )

    def is_on_sale(self, now: datetime | None = None) -> bool:
        """In its sale window, and every file of every track encoded (see :meth:`is_preparing`)."""
        now = now or utcnow()
        return self.starts_at <= now < self.ends_at and not self.is_preparing()

    def is_preparing(self) -> bool:
        """Whether some buyer file or preview of the pack is not encoded yet.

        Computed from the :class:`Encode` rows, so the last encode to finish puts the pack
        on sale with nothing else to update. A pack without encodes (files made before
        masters) is ready.
        """
        session = object_session(self)
        if session is None or self.id is None:
            return False
        return bool(session.scalar(select(preparing(self.id))))

    def has_ended(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.ends_at


class Album(Model):
    __tablename__ = "albums"
    __table_args__ = (
        UniqueConstraint("pack_id", "artist", "title", name="uq_albums_pack_artist_title"),
        Index("uq_albums_one_bonus", "pack_id", unique=True, sqlite_where=text("is_bonus"),
              postgresql_where=text("is_bonus")),
        CheckConstraint("share_weight >= 0", name="ck_albums_share_weight"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    artist: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    genre: Mapped[str] = mapped_column(String(80), default="")
    year: Mapped[int | None] = mapped_column(Integer)
    cover_key: Mapped[str | None] = mapped_column(String(300))
    cover_size: Mapped[int | None] = mapped_column(BigInteger)
    cover_crc32: Mapped[int | None] = mapped_column(BigInteger)
    cover_sha256: Mapped[str | None] = mapped_column(String(64))
    # The pack's "beat the average" album: only orders with ``bonus_unlocked`` get it.
    is_bonus: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Who the album's money goes to (shop.artists.Artist, named here, not imported: it stands
    # on this module), and its weight in the artists' part of the pack's shares.
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), index=True)
    share_weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The operator's Markdown about the album, shown on the pack page (shop.store.album_text).
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    credits: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Last change to the words (or the artist's bio): in the catalog version (shop.catalog.state).
    text_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    pack: Mapped[Pack] = relationship(back_populates="albums")
    artist_record: Mapped[Any] = relationship("Artist", back_populates="albums")
    tracks: Mapped[list[Track]] = relationship(
        back_populates="album", order_by="Track.number", cascade="all, delete-orphan"
    )

    @property
    def cover_extension(self) -> str:
        return self.cover_key.rsplit(".", 1)[-1] if self.cover_key else ""

    def size_of(self, fmt: str) -> int:
        return sum(f.size for t in self.tracks for f in t.files if f.format == fmt)

    @property
    def duration_ms(self) -> int:
        return sum(t.duration_ms for t in self.tracks)


class Track(Model):
    __tablename__ = "tracks"
    __table_args__ = (
        UniqueConstraint("album_id", "number", name="uq_tracks_album_number"),
        CheckConstraint("number > 0", name="ck_tracks_number"),
        CheckConstraint("duration_ms >= 0", name="ck_tracks_duration"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    # The lossless master every buyer file and the preview are encoded from (content-addressed
    # in storage). None for tracks imported before masters, whose files were imported as is.
    master_key: Mapped[str | None] = mapped_column(String(300))
    master_size: Mapped[int | None] = mapped_column(BigInteger)
    master_sha256: Mapped[str | None] = mapped_column(String(64))
    master_codec: Mapped[str | None] = mapped_column(String(16))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    bit_depth: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    # The preview clip the pack page plays (an MP3 made from the master).
    preview_key: Mapped[str | None] = mapped_column(String(300))
    preview_size: Mapped[int | None] = mapped_column(BigInteger)
    preview_sha256: Mapped[str | None] = mapped_column(String(64))
    preview_duration_ms: Mapped[int | None] = mapped_column(Integer)
    # Optional lyrics (Markdown), behind a disclosure on the pack page.
    lyrics: Mapped[str] = mapped_column(Text, default="", server_default="")

    album: Mapped[Album] = relationship(back_populates="tracks")
    files: Mapped[list[TrackFile]] = relationship(
        back_populates="track", order_by="TrackFile.format", cascade="all, delete-orphan"
    )
    encodes: Mapped[list[Encode]] = relationship(
        back_populates="track", order_by="Encode.format", cascade="all, delete-orphan"
    )

    def file(self, fmt: str) -> TrackFile | None:
        return next((f for f in self.files if f.format == fmt), None)


class TrackFile(Model):
    """One encoding of one track, with the checksums computed once at import."""

    __tablename__ = "track_files"
    __table_args__ = (
        UniqueConstraint("track_id", "format", name="uq_track_files_track_format"),
        CheckConstraint(sql_in("format", FORMATS), name="ck_track_files_format"),
        CheckConstraint("size >= 0", name="ck_track_files_size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    storage_key: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger)
    crc32: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    dropbox_content_hash: Mapped[str] = mapped_column(String(64))
    # Where `flask dropbox seed` put the file in the store's Dropbox, and a copy reference
    # to it: a delivery saves that reference into the buyer's Dropbox (no bytes uploaded).
    dropbox_path: Mapped[str | None] = mapped_column(String(600))
    copy_ref: Mapped[str | None] = mapped_column(String(200))
    copy_ref_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    track: Mapped[Track] = relationship(back_populates="files")


class EncodeStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Encode(Model):
    """One buyer format (or the preview) of one track, to be encoded from its master.

    The encode job claims pending, failed and stale rows (``status`` and ``worker`` in one
    UPDATE), writes the file to storage, then the :class:`TrackFile` (or the track's preview
    columns) and ``done`` in one transaction: a job that dies mid-way leaves no half row.
    """

    __tablename__ = "encodes"
    __table_args__ = (
        UniqueConstraint("track_id", "format", name="uq_encodes_track_format"),
        CheckConstraint(sql_in("format", (*FORMATS, PREVIEW)), name="ck_encodes_format"),
        CheckConstraint(sql_in("status", EncodeStatus), name="ck_encodes_status"),
        CheckConstraint("attempts >= 0", name="ck_encodes_attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=EncodeStatus.PENDING.value)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The job holding a running encode, and when it last showed progress (stale after a while).
    worker: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    track: Mapped[Track] = relationship(back_populates="encodes")


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    # A delayed payment method (SEPA Debit, ...) was accepted and the money is on its way:
    # no second payment is needed, but nothing is delivered until it arrives.
    PROCESSING = "processing"
    PAID = "paid"
    REFUNDED = "refunded"
    # A card dispute is open or was lost: access is suspended (see dispute_status).
    DISPUTED = "disputed"


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    # An inquiry that closed without a chargeback (Stripe's warning_closed).
    CLOSED = "closed"
    # Stripe prevented the dispute: no funds were withdrawn, so the order is not disputed.
    PREVENTED = "prevented"
    # An operator restored access from the console; later events of that dispute leave it be.
    RESTORED = "restored"


class Order(Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="ck_orders_amount"),
        CheckConstraint(sql_in("status", OrderStatus), name="ck_orders_status"),
        CheckConstraint("status IN ('pending', 'processing') OR paid_at IS NOT NULL", name="ck_orders_paid_at"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="ck_orders_refunded"),
        CheckConstraint("dispute_status IS NULL OR " + sql_in("dispute_status", DisputeStatus),
                        name="ck_orders_dispute_status"),
        CheckConstraint("status != 'disputed' OR dispute_status IN ('open', 'lost')", name="ck_orders_disputed"),
        CheckConstraint("split_artists IS NULL OR (split_artists >= 0 AND split_charity >= 0 AND split_store >= 0 "
                        "AND split_artists + split_charity + split_store = 100)", name="ck_orders_split"),
        UniqueConstraint("payment_provider", "payment_ref", name="uq_orders_payment"),
        Index("ix_orders_email_status", "email", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING.value)
    payment_provider: Mapped[str] = mapped_column(String(32))
    payment_ref: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the provider gave back so far (partial refunds keep access; a full one revokes it).
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dispute_status: Mapped[str | None] = mapped_column(String(16))
    # Stripe: the newest Checkout Session (while pending) and, once paid, the PaymentIntent
    # that refunds and disputes refer to.
    checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    checkout_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)
    # An order of one album of the pack (from that album's download code); None: the whole pack.
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id"))
    # The split chosen in whole percent (None: before the pay box), per artist (JSON, shop.splits).
    split_artists: Mapped[int | None] = mapped_column(Integer)
    split_charity: Mapped[int | None] = mapped_column(Integer)
    split_store: Mapped[int | None] = mapped_column(Integer)
    artist_split: Mapped[str | None] = mapped_column(Text)
    bonus_threshold_cents: Mapped[int | None] = mapped_column(Integer)
    bonus_unlocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    pack: Mapped[Pack] = relationship()
    links: Mapped[list[OrderLink]] = relationship(back_populates="order", cascade="all, delete-orphan")

    @property
    def is_paid(self) -> bool:
        return self.status == OrderStatus.PAID

    def gets_album(self, album: Album) -> bool:
        """Whether the order includes ``album``: an order of one album (from its download code)
        only that one; any other every album, the bonus one only once unlocked."""
        if self.album_id is not None:
            return album.id == self.album_id
        return self.bonus_unlocked or not album.is_bonus

    @property
    def kept_cents(self) -> int:
        """What the store keeps: the amount less partial refunds."""
        return self.amount_cents - (self.refunded_cents or 0)


class OrderLink(Model):
    """A secret link to an order. Only the SHA-256 of the token is stored.

    An order may have several links (the receipt, each "lost my link" mail); all stay valid
    until an operator revokes them (``revoked_at``), which only the console does.
    """

    __tablename__ = "order_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="links")


class RateLimitHit(Model):
    """One counted request in a rate-limit bucket (e.g. ``lost:addr:<hash>``)."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_bucket_at", "bucket", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: The ``payment_provider`` of an order made by redeeming a download code (:mod:`shop.codes`).
CODE_PROVIDER = "code"


def preparing(pack_id: int | SQLColumnExpression[int]) -> Exists:
    """Whether the pack has an encode that is not done: the one definition of a preparing pack,
    for :meth:`Pack.is_preparing` (a pack id) and the catalog state (``Pack.id`` of an outer
    query, to which it is correlated; :mod:`shop.catalog.state`)."""
    return (select(Encode.id).join(Track, Track.id == Encode.track_id).join(Album, Album.id == Track.album_id)
            .where(Album.pack_id == pack_id, Encode.status != EncodeStatus.DONE.value).correlate(Pack).exists())

