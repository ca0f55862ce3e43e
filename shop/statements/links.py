"""Statement links: 256-bit tokens like the buyers' order links, only their SHA-256 stored.

An artist may hold several live links (each statement mail mints a fresh one); the console
revokes any of them. A malformed, unknown and revoked token open nothing alike.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update

from shop.artists import Artist, StatementLink, artist_for_statement_token
from shop.extensions import db
from shop.models import utcnow
from shop.order_links import TOKEN_BYTES, hash_token


def mint(artist: Artist) -> str:
    """Add a new link for ``artist`` (not committed) and return its raw token, which exists
    nowhere else: the caller shows or mails it once and forgets it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(StatementLink(artist=artist, token_hash=hash_token(token)))
    return token


#: The artist a raw token opens, or None (malformed, unknown or revoked).
artist_for = artist_for_statement_token


def live_links(artist_id: int) -> list[StatementLink]:
    return list(db.session.scalars(select(StatementLink).where(
        StatementLink.artist_id == artist_id, StatementLink.revoked_at.is_(None)).order_by(StatementLink.id)))


def revoke(artist_id: int, link_id: int | None = None) -> int:
    """Revoke one live link of the artist (``link_id``) or all of them; how many were revoked
    (not committed)."""
    query = update(StatementLink).where(StatementLink.artist_id == artist_id, StatementLink.revoked_at.is_(None))
    if link_id is not None:
        query = query.where(StatementLink.id == link_id)
    result = db.session.execute(query.values(revoked_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]
