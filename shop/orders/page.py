"""What the order page shows (links are built with ``url_for``, so an app context is needed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for

from shop.downloads.counting import download_counts
from shop.dropbox.order_panel import dropbox_state
from shop.models import FORMATS, Album, DisputeStatus, Order, OrderStatus, utcnow


@dataclass(frozen=True)
class FormatLink:
    format: str
    url: str
    size: int
    downloads: int = 0


@dataclass(frozen=True)
class PaymentState:
    """The order's payment as the page shows it.

    ``state`` is one of ``paid``, ``partly_refunded``, ``refunded``, ``disputed``,
    ``dispute_lost`` and ``pending``; ``finish_url`` leads back to an open checkout.
    """

    state: str
    refunded_cents: int = 0
    finish_url: str | None = None


def payment_state(order: Order, token: str) -> PaymentState:
    if order.status == OrderStatus.PENDING.value:
        finish = None
        if order.checkout_session_id and order.checkout_expires_at and order.checkout_expires_at > utcnow():
            finish = url_for("payments.finish_payment", token=token)
        return PaymentState("pending", finish_url=finish)
    if order.status == OrderStatus.REFUNDED.value:
        return PaymentState("refunded", order.refunded_cents)
    if order.status == OrderStatus.DISPUTED.value:
        lost = order.dispute_status == DisputeStatus.LOST.value
        return PaymentState("dispute_lost" if lost else "disputed", order.refunded_cents)
    if order.refunded_cents:
        return PaymentState("partly_refunded", order.refunded_cents)
    return PaymentState("paid")


def album_links(token: str, album: Album, counts: dict[tuple[str, int | None, str], int]) -> list[FormatLink]:
    return [
        FormatLink(fmt, url_for("downloads.album", token=token, album_id=album.id, fmt=fmt), album.size_of(fmt),
                   counts.get(("album", album.id, fmt), 0))
        for fmt in FORMATS
    ]


def order_page_context(order: Order, token: str) -> dict[str, Any]:
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
        "payment": payment_state(order, token),
        "pack": order.pack,
        "albums": [(album, album_links(token, album, counts)) for album in albums],
        "pack_links": pack_links,
        "track_counts": counts,
        "formats": FORMATS,
        # For an order that is no longer paid, only to show why its deliveries stopped.
        "dropbox": dropbox_state(order),
    }
