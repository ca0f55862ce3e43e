"""Artists as records: who an album's money belongs to, how to reach them, how they are paid.

An album's ``artist`` column is the name as tagged and shown; its ``artist_id`` is the person
(or band) the ledger pays. Names are matched by :func:`name_key` (case and accents folded), but
two spellings are never merged silently: an import that meets a new spelling of a known key
creates a second artist with ``same_as_id`` pointing at the first, and the operator decides in
the console (merge or keep apart).

It sits on the ground floor beside :mod:`shop.models`, which names :class:`Artist` without
importing it (the album's relationship), so that the catalog, the ledger, payments and the
console all stand on it. Every album flushed without an artist gets one by its exact name
(:func:`_give_albums_their_artists`): imports, the demo and test factories alike.
"""

from __future__ import annotations

import enum
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, event, false, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from shop.columns import UTCDateTime, sql_in
from shop.extensions import Model, db
from shop.models import Album, utcnow
from shop.order_links import TOKEN_SHAPE, hash_token

#: An artist's page lists at most this many links.
MAX_LINKS = 5


class PayoutMethod(enum.StrEnum):
    #: The operator pays by hand (bank transfer, PayPal, ...) and records it in the console.
    MANUAL = "manual"
    #: Transfers to the artist's Stripe Express account (Stripe Connect).
    STRIPE = "stripe"


def name_key(name: str) -> str:
    """``name`` with case, accents and runs of spaces folded: "Beyoncé " and "beyonce" agree."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


class Artist(Model):
    __tablename__ = "artists"
    __table_args__ = (
        UniqueConstraint("name", name="uq_artists_name"),
        Index("ix_artists_name_key", "name_key"),
        CheckConstraint(sql_in("payout_method", PayoutMethod), name="ck_artists_payout_method"),
        CheckConstraint("same_as_id IS NULL OR same_as_id != id", name="ck_artists_same_as"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    bio: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Up to MAX_LINKS http(s) URLs, one per line (see :attr:`links`).
    links_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    payout_method: Mapped[str] = mapped_column(String(16), default=PayoutMethod.MANUAL.value,
                                               server_default=PayoutMethod.MANUAL.value)
    # Stripe Connect: the Express account and whether Stripe says it can receive payouts
    # (``account.updated``).
    stripe_account_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # An import met a new spelling of a known name: possibly the same artist; the operator decides.
    same_as_id: Mapped[int | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    albums: Mapped[list[Album]] = relationship(Album, back_populates="artist_record", order_by=Album.id)
    same_as: Mapped[Artist | None] = relationship(remote_side=[id])

    @property
    def links(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.links_text.splitlines() if line.strip())


class StatementLink(Model):
    """A secret link to an artist's statements (only the SHA-256 of the token is stored, like
    an order link); revocable from the console."""

    __tablename__ = "statement_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    artist: Mapped[Artist] = relationship()


class StatementMail(Model):
    """One statement mail per artist and month (``YYYY-MM``): the row is the "sent once" rule."""

    __tablename__ = "statement_mails"
    __table_args__ = (UniqueConstraint("artist_id", "month", name="uq_statement_mails_artist_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"))
    month: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def artist_for_statement_token(token: str) -> Artist | None:
    """The artist whose live statement link ``token`` is: ``None`` for malformed, unknown and
    revoked tokens alike (the statement page and Stripe onboarding both start here)."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    return db.session.scalar(
        select(Artist).join(StatementLink, StatementLink.artist_id == Artist.id)
        .where(StatementLink.token_hash == hash_token(token), StatementLink.revoked_at.is_(None)))


def artist_named(session: Session, name: str) -> Artist:
    """The artist called exactly ``name``, created when there is none.

    A new artist whose :func:`name_key` matches an existing one's is linked to it by
    ``same_as_id`` for the operator to confirm; nothing is merged here.
    """
    pending = next((a for a in session.new if isinstance(a, Artist) and a.name == name), None)
    found = pending or session.scalar(select(Artist).where(Artist.name == name))
    if found is not None:
        return found
    key = name_key(name)
    twin = session.scalar(select(Artist).where(Artist.name_key == key).order_by(Artist.id).limit(1))
    artist = Artist(name=name, name_key=key, same_as=twin)
    session.add(artist)
    return artist


@event.listens_for(Session, "before_flush")
def _give_albums_their_artists(session: Session, _context: Any, _instances: Any) -> None:
    for album in [obj for obj in session.new if isinstance(obj, Album)]:
        if album.artist_record is None and not album.artist_id:  # ids start at 1
            with session.no_autoflush:
                album.artist_record = artist_named(session, album.artist)
