"""Template helpers for the pack page's words: the "who gets your money" line, and the artist's
links (only ``http`` and ``https`` addresses become links). Plain functions of the pack and its
lineup: the page is rendered once and cached, so none of them queries."""

from __future__ import annotations

from urllib.parse import urlsplit

from shop.formatting import counted
from shop.models import Pack
from shop.store import bp
from shop.store.album_text import render as render_markdown


def split_line(pack: Pack, artist_count: int) -> str:
    """The pack's default shares in words: ``90 % to the 4 artists · 5 % to Sound Aid ·
    5 % to the store`` (a share of 0 is left out)."""
    artists = "the artist" if artist_count == 1 else f"the {counted(artist_count, 'artist')}" if artist_count > 1 \
        else "the artists"
    parts = [(pack.split_artists, artists)]
    if pack.charity_name:
        parts.append((pack.split_charity, pack.charity_name))
    parts.append((pack.split_store, "the store"))
    return " · ".join(f"{percent} % to {to}" for percent, to in parts if percent)


def is_http_url(value: object) -> bool:
    """Whether ``value`` is an absolute ``http`` or ``https`` address with a host."""
    if not isinstance(value, str) or len(value) > 2000 or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def link_label(url: str) -> str:
    """What a link to ``url`` reads: its host and path, without ``www.`` or a trailing slash."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    return (host + parts.path.rstrip("/"))[:80]


bp.add_app_template_global(split_line, "split_line")
bp.add_app_template_test(is_http_url, "http_url")
bp.add_app_template_filter(link_label, "link_label")
bp.add_app_template_filter(render_markdown, "markdown_text")
