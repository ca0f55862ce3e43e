"""Builders for catalog and order rows backed by real files in the app's storage."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask

from shop.catalog.hashing import digest_file, storage_key
from shop.extensions import db
from shop.formats import get_format
from shop.models import FORMATS, Album, Order, OrderStatus, Pack, Track, TrackFile, utcnow
from shop.order_links import mint_link
from shop.storage import get_storage

DEFAULT_ALBUMS = (
    ("The Quiet Fires", "Ember Line", "rock", ["Kindling", "Smoke Signals", "Ash"]),
    ("Björk Ørsted", "Ünïcode & Co/slash", "electronic", ["Intro: 東京", 'Quote "this"']),
)


def store_blob(app: Flask, data: bytes, kind: str, extension: str) -> tuple[str, object]:
    """Put ``data`` into the app's storage; return ``(key, digests)``."""
    with tempfile.NamedTemporaryFile(delete=False) as tmp:
        tmp.write(data)
    path = Path(tmp.name)
    try:
        digests = digest_file(path)
        key = storage_key(kind, digests.sha256, extension)
        get_storage(app).put_file(key, path)
    finally:
        path.unlink()
    return key, digests


def audio_bytes(album: str, number: int, fmt: str, size: int = 2048) -> bytes:
    """Deterministic, distinct content per track and format (not real audio)."""
    seed = f"{album}|{number}|{fmt}|".encode()
    return (seed * (size // len(seed) + 1))[:size]


def make_pack(
    app: Flask,
    slug: str = "spring-pack",
    starts_in: timedelta = -timedelta(hours=1),
    lasts: timedelta = timedelta(days=14),
    albums=DEFAULT_ALBUMS,
    min_price_cents: int = 500,
    suggested_price_cents: int = 1200,
    file_size: int = 2048,
    formats: tuple[str, ...] = FORMATS,
    previews: bool = True,
    content: Callable[[str, int, str], bytes | None] | None = None,
) -> Pack:
    """A pack whose tracks have a (fake) file in each of ``formats`` (every buyer format by
    default) and a (fake) preview clip, made directly, without masters or encodes.

    ``content(album_title, track_number, fmt)`` may give a file's real bytes (None: the fake ones)."""
    now = utcnow()
    pack = Pack(
        slug=slug,
        title=slug.replace("-", " ").title(),
        blurb="A test pack.",
        starts_at=now + starts_in,
        ends_at=now + starts_in + lasts,
        currency="USD",
        min_price_cents=min_price_cents,
        suggested_price_cents=suggested_price_cents,
    )
    for position, (artist, title, genre, track_titles) in enumerate(albums, start=1):
        cover_key, cover = store_blob(app, b"\x89PNG\r\n\x1a\n" + title.encode(), "covers", "png")
        album = Album(
            position=position, artist=artist, title=title, genre=genre, year=2026,
            cover_key=cover_key, cover_size=cover.size, cover_crc32=cover.crc32, cover_sha256=cover.sha256,
        )
        for number, track_title in enumerate(track_titles, start=1):
            track = Track(number=number, title=track_title, duration_ms=61_000 + number * 1000)
            if previews:
                key, d = store_blob(app, audio_bytes(f"{slug}/{title}", number, "preview", 512), "previews", "mp3")
                track.preview_key, track.preview_size, track.preview_sha256 = key, d.size, d.sha256
                track.preview_duration_ms = 30_000
            for fmt in formats:
                data = content(title, number, fmt) if content else None
                if data is None:
                    data = audio_bytes(f"{slug}/{title}", number, fmt, file_size)
                key, d = store_blob(app, data, "audio", get_format(fmt).extension)
                track.files.append(
                    TrackFile(format=fmt, storage_key=key, size=d.size, crc32=d.crc32, sha256=d.sha256,
                              dropbox_content_hash=d.dropbox_content_hash)
                )
            album.tracks.append(track)
        pack.albums.append(album)
    db.session.add(pack)
    db.session.commit()
    return pack


def make_order(app: Flask, pack: Pack, paid: bool = True, email: str = "buyer@example.com",
               amount_cents: int = 1000) -> tuple[Order, str]:
    order = Order(
        pack=pack, email=email, amount_cents=amount_cents, currency=pack.currency,
        status=OrderStatus.PAID.value if paid else OrderStatus.PENDING.value,
        payment_provider="test", payment_ref=f"ref-{utcnow().timestamp()}-{email}-{id(object())}",
        paid_at=utcnow() if paid else None,
    )
    token = mint_link(order)
    db.session.add(order)
    db.session.commit()
    return order, token
