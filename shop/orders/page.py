"""What the order page shows (links are built with ``url_for``, so an app context is needed)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from shop.downloads.counting import download_counts
from shop.dropbox.order_panel import dropbox_state
from shop.models import FORMATS, Album, Order


@dataclass(frozen=True)
class FormatLink:
    format: str
    url: str
    size: int
    downloads: int = 0


def album_links(token: str, album: Album, counts: dict) -> list[FormatLink]:
    return [
        FormatLink(fmt, url_for("downloads.album", token=token, album_id=album.id, fmt=fmt), album.size_of(fmt),
                   counts.get(("album", album.id, fmt), 0))
        for fmt in FORMATS
    ]


def order_page_context(order: Order, token: str) -> dict:
    """Template context for ``orders/show.html``."""
    counts = download_counts(order) if order.is_paid else {}
    albums = order.pack.albums
    pack_links = [
        FormatLink(fmt, url_for("downloads.pack", token=token, fmt=fmt), sum(a.size_of(fmt) for a in albums),
                   counts.get(("pack", None, fmt), 0))
        for fmt in FORMATS
    ]
    return {
        "order": order,
        "pack": order.pack,
        "albums": [(album, album_links(token, album, counts)) for album in albums],
        "pack_links": pack_links,
        "track_counts": counts,
        "formats": FORMATS,
        # For an order that is no longer paid, only to show why its deliveries stopped.
        "dropbox": dropbox_state(order),
    }
