"""Sharing and finding the store: OpenGraph and Twitter tags, the pack's 1200×630 share card
(made once per set of covers, made again when a cover changes), WebP covers, and /feed.xml
read by a standard feed parser."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from shop.extensions import db
from shop.images import share_key
from shop.models import Album, Pack
from shop.storage import get_storage
from tests import factories


def png(color: tuple[int, int, int], size: int = 300) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def set_cover(app: Flask, album: Album, data: bytes) -> None:
    key, digests = factories.store_blob(app, data, "covers", "png")
    album.cover_key, album.cover_size, album.cover_sha256 = key, digests.size, digests.sha256  # type: ignore[attr-defined]
    db.session.commit()


def meta(html: str, attribute: str, name: str) -> str:
    match = re.search(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)"', html)
    assert match, name
    return match.group(1)


def test_pack_page_has_share_tags_and_a_description(app: Flask, client: FlaskClient, pack: Pack) -> None:
    app.config["BASE_URL"] = "https://music.example"
    html = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert meta(html, "property", "og:title") == pack.title
    assert meta(html, "property", "og:url") == f"https://music.example/packs/{pack.slug}"
    assert meta(html, "property", "og:image") == f"https://music.example/packs/{pack.slug}/share.png"
    assert meta(html, "name", "twitter:card") == "summary_large_image"
    assert meta(html, "name", "description") == "A test pack."
    assert 'rel="alternate" type="application/atom+xml"' in html


@pytest.mark.parametrize("path", ["/", "/orders/lost", "/about", "/terms", "/privacy", "/refunds"])
def test_every_page_has_a_meta_description_and_policy_links(client: FlaskClient, pack: Pack, path: str) -> None:
    html = client.get(path).get_data(as_text=True)
    assert len(meta(html, "name", "description")) > 40
    for page in ("/about", "/terms", "/privacy", "/refunds", "/feed.xml"):
        assert f'href="{page}"' in html


def test_home_shares_the_first_pack_on_sale(client: FlaskClient, pack: Pack) -> None:
    html = client.get("/").get_data(as_text=True)
    assert meta(html, "property", "og:image").endswith(f"/packs/{pack.slug}/share.png")


def test_share_card_is_1200_by_630_made_once_and_again_when_a_cover_changes(
    app: Flask, client: FlaskClient, pack: Pack
) -> None:
    first, second = pack.albums
    set_cover(app, first, png((200, 30, 30)))
    response = client.get(f"/packs/{pack.slug}/share.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    with Image.open(io.BytesIO(response.data)) as card:
        assert card.size == (1200, 630)
        assert card.convert("RGB").getpixel((600 - 150, 315)) == (200, 30, 30)  # the readable cover is in it
    storage = get_storage(app)
    key = share_key([first.cover_key, second.cover_key])  # type: ignore[list-item]
    assert storage.exists(key)
    assert client.get(f"/packs/{pack.slug}/share.png", headers={"If-None-Match": response.headers["ETag"].strip('"')}
                      ).status_code in (200, 304)
    set_cover(app, first, png((30, 200, 30)))
    changed = client.get(f"/packs/{pack.slug}/share.png")
    assert changed.headers["ETag"] != response.headers["ETag"]
    with Image.open(io.BytesIO(changed.data)) as card:
        assert card.convert("RGB").getpixel((600 - 150, 315)) == (30, 200, 30)
    assert client.get("/packs/nope/share.png").status_code == 404


def test_covers_come_as_webp_in_each_width_with_a_fallback(app: Flask, client: FlaskClient, pack: Pack) -> None:
    album, unreadable = pack.albums
    set_cover(app, album, png((10, 20, 200), size=800))
    html = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    base = f"/packs/{pack.slug}/albums/{album.id}/cover"
    assert f'srcset="{base}-180.webp 180w, {base}-360.webp 360w, {base}-540.webp 540w"' in html
    assert re.search(rf'<img class="cover" src="{base}-180.webp"[^>]* width="180" height="180"', html)
    for width in (180, 360, 540):
        response = client.get(f"{base}-{width}.webp")
        assert response.status_code == 200 and response.mimetype == "image/webp"
        with Image.open(io.BytesIO(response.data)) as image:
            assert image.format == "WEBP" and image.size == (width, width)
    assert client.get(f"{base}-200.webp").status_code == 404
    assert client.get(f"/packs/other/albums/{album.id}/cover-180.webp").status_code == 404
    # The test factory's covers are not images Pillow reads: sent as uploaded.
    fallback = client.get(f"/packs/{pack.slug}/albums/{unreadable.id}/cover-180.webp")
    assert fallback.status_code == 302 and fallback.headers["Location"].endswith(f"/albums/{unreadable.id}/cover")


def test_feed_has_one_entry_per_listed_pack_announced_or_on_sale(app: Flask, client: FlaskClient, pack: Pack,
                                                                 ended_pack: Pack) -> None:
    app.config["BASE_URL"] = "https://music.example"
    coming = factories.make_pack(app, slug="summer-pack", starts_in=timedelta(days=3))
    factories.make_pack(app, slug="empty-pack", albums=())
    response = client.get("/feed.xml")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    links = sorted(entry.link for entry in parsed.entries)
    assert links == sorted(f"https://music.example/packs/{p.slug}" for p in (pack, coming))
    entry = next(e for e in parsed.entries if e.link.endswith(pack.slug))
    assert entry.title == pack.title and "Ember Line" in entry.content[0].value
    assert "<li>" in entry.content[0].value  # HTML content, escaped once in the XML
    assert parsed.feed.links[0].href == "https://music.example/feed.xml"
