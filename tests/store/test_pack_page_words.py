"""The pack page's words: the operator's Markdown (descriptions, credits, lyrics) rendered through
markdown-it-py and sanitised by nh3, hostile input included; the artist's links; the "who gets
your money" line; one Formats disclosure; one <audio>; previews answer Range requests; empty
packs are listed nowhere (home, feed)."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import feedparser  # type: ignore[import-untyped]
import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Album, Pack, utcnow
from shop.store.album_text import ALLOWED_TAGS, clean_text, render, sanitise
from shop.store.pack_words import is_http_url, split_line
from tests import factories

HOSTILE = [
    # (Markdown, what must never come out)
    ("<script>alert(1)</script>", "<script"),
    ("Hello <img src=x onerror=alert(1)>", "<img"),
    ("<a href=\"javascript:alert(1)\">x</a>", "<a href=\"javascript"),
    ("[click](javascript:alert(1))", "href=\"javascript:"),
    ("[click](JaVaScRiPt:alert(1))", "href=\"javascript:"),
    ("[click](vbscript:msgbox(1))", "href=\"vbscript:"),
    ("[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "href=\"data:"),
    ("[x](&#106;avascript:alert(1))", "href=\"javascript"),
    ("[x](java\tscript:alert(1))", "<a"),
    ("<javascript:alert(1)>", "<a"),
    ("<div onclick=\"alert(1)\">hi</div>", "<div"),
    ("<svg onload=alert(1)>", "<svg"),
    ("<iframe src=//evil.example></iframe>", "<iframe"),
    ("<style>body{display:none}</style>", "<style"),
    ("![tracker](https://evil.example/pixel.gif)", "<img"),
    ("<!-- comment --><b>bold</b>", "<b>"),
    ("`<script>`", "<script>"),
    ("[x](https://example.com \"t\" onmouseover=alert(1))", "onmouseover=\""),
]


TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")
ATTRIBUTE = re.compile(r'\s([^\s=]+)(?:="([^"]*)")?')


def assert_only_allowed_html(html: str) -> None:
    """Every live tag is an allowed one, with allowed attributes, links to http(s) or mailto only."""
    for match in TAG.finditer(html):
        name, attributes = match.group(2).lower(), match.group(3)
        assert name in ALLOWED_TAGS, (name, html)
        for attribute, value in ATTRIBUTE.findall(attributes):
            assert attribute in {"href", "title", "rel", "start"}, (attribute, html)
            if attribute == "href":
                assert value.startswith(("https://", "http://", "mailto:")), (value, html)


@pytest.mark.parametrize("text, never", HOSTILE)
def test_hostile_markdown_never_becomes_live_html(text: str, never: str) -> None:
    html = str(render(text))
    assert never.lower() not in html.lower(), html
    assert_only_allowed_html(html)


def test_the_sanitiser_stands_even_when_given_raw_html() -> None:
    """The second lock on its own: raw HTML as if markdown-it had let it through."""
    dirty = ('<p onclick="x()">Hi <a href="javascript:alert(1)" onclick="y()">a</a> <a href="https://ok.example/">b</a>'
             '<script>alert(1)</script><img src=x onerror=z()><iframe></iframe><h1>big</h1></p>')
    clean = sanitise(dirty)
    assert_only_allowed_html(clean)
    assert "onclick" not in clean and "javascript" not in clean and "<script" not in clean
    assert "alert(1)" not in clean and "<img" not in clean and "<iframe" not in clean and "<h1" not in clean
    assert '<a href="https://ok.example/" rel="noopener noreferrer nofollow">b</a>' in clean
    assert "big" in clean  # a tag that is not allowed loses the tag, not the words


def test_markdown_that_is_allowed_renders() -> None:
    html = str(render("Recorded *live* in **Leeds**.\nSecond line.\n\n- one\n- two\n\n[Site](https://band.example/)"
                      " and <mail@band.example>\n\n# Not a heading"))
    assert "<em>live</em>" in html and "<strong>Leeds</strong>" in html
    assert "<br" in html  # a line break stays one (lyrics)
    assert "<ul>" in html and "<li>one</li>" in html
    assert '<a href="https://band.example/" rel="noopener noreferrer nofollow">Site</a>' in html
    assert 'href="mailto:mail@band.example"' in html
    assert "<h1" not in html and "# Not a heading" in html
    assert render("   \n ") == ""


def test_posted_text_is_cleaned() -> None:
    assert clean_text("  a\r\nb\rc\x00d\x1b[2J\x7f\te  ") == "a\nb\ncd[2J\te"


def test_only_http_links_count_for_an_artist() -> None:
    assert is_http_url("https://band.example/") and is_http_url("http://band.example")
    for bad in ("javascript:alert(1)", "data:text/html,x", "ftp://band.example", "//band.example", "https://",
                "https://band.example/ x", None, 42, "mailto:a@b.example", "https:/\\evil"):
        assert not is_http_url(bad), bad


def test_the_split_line_names_the_shares() -> None:
    pack = SimpleNamespace(split_artists=90, split_charity=5, split_store=5, charity_name="Sound Aid")
    assert split_line(pack, 4) == "90 % to the 4 artists · 5 % to Sound Aid · 5 % to the store"  # type: ignore[arg-type]
    pack = SimpleNamespace(split_artists=90, split_charity=0, split_store=10, charity_name=None)
    assert split_line(pack, 1) == "90 % to the artist · 10 % to the store"  # type: ignore[arg-type]


def album_named(title: str) -> Album:
    album = db.session.scalar(db.select(Album).where(Album.title == title))
    assert album is not None
    return album


def test_the_pack_page_shows_the_words_sanitised(app: Flask, client: FlaskClient, pack: Pack) -> None:
    album = album_named("Ember Line")
    album.description = "A *warm* record. <script>alert('x')</script>"
    album.credits = "Mixed by [Ana](javascript:alert(1)) and [Bo](https://bo.example/)"
    album.tracks[0].lyrics = "First line\nSecond line <img src=x onerror=alert(1)>"
    album.text_updated_at = utcnow()
    db.session.commit()
    html = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert "A <em>warm</em> record." in html and "&lt;script&gt;" in html and "<script>alert" not in html
    assert 'href="javascript' not in html and "[Ana](javascript:alert(1))" in html  # text, not a link
    assert '<a href="https://bo.example/" rel="noopener noreferrer nofollow">Bo</a>' in html
    assert '<details class="lyrics">' in html and "First line<br" in html and "<img src=x" not in html
    assert html.count('<details class="lyrics">') == 1  # only the track that has lyrics
    assert "Lyrics<span class=\"visually-hidden\"> of Kindling</span>" in html


def test_an_edit_of_the_words_reaches_the_cached_page(app: Flask, client: FlaskClient, pack: Pack) -> None:
    """The page of a pack on sale is cached per catalog version; the words' last change is in it."""
    assert "Fresh words" not in client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    album = album_named("Ember Line")
    album.description = "Fresh words"
    album.text_updated_at = utcnow()
    db.session.commit()
    assert "Fresh words" in client.get(f"/packs/{pack.slug}").get_data(as_text=True)


def test_the_artist_record_when_there_is_one(app: Flask) -> None:
    """The template's artist block, fed an object like the coming shop.models.Artist."""
    artist = SimpleNamespace(bio="Plays *loud*.", links=("https://band.example/", "javascript:alert(1)",
                                                         "http://label.example/band", "ftp://x.example"))
    template = app.jinja_env.from_string(
        '{% set album = a %}{% if album.artist_record %}{% set artist = album.artist_record %}'
        '{{ artist.bio|markdown_text }}{% for url in artist.links|select("http_url") %}'
        '<a href="{{ url }}" rel="me noopener">{{ url|link_label }}</a>{% endfor %}{% endif %}')
    with app.test_request_context():
        html = template.render(a=SimpleNamespace(artist_record=artist))
        assert template.render(a=SimpleNamespace()) == ""  # no record yet: nothing
    assert "<em>loud</em>" in html
    assert '<a href="https://band.example/" rel="me noopener">band.example</a>' in html
    assert '<a href="http://label.example/band" rel="me noopener">label.example/band</a>' in html
    assert "javascript" not in html and "ftp:" not in html


def test_the_page_has_one_player_and_one_formats_disclosure(client: FlaskClient, pack: Pack) -> None:
    html = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert html.count("<audio") == 1 and "controls" not in re.search(r"<audio[^>]*>", html).group(0)  # type: ignore[union-attr]
    tracks = sum(len(a.tracks) for a in pack.albums)
    assert html.count('class="preview-link"') == tracks  # the no-JS fallback, one per track
    assert html.count("<details class=\"formats\"") == 1 and 'class="sizes' not in html
    assert "Who gets your money:</strong> 90 % to the 2 artists · 10 % to the store." in html
    assert 'href="#split">You choose the split</a>' in html
    assert 'class="buy-bar"' in html and 'href="#buy-heading">Buy</a>' in html
    assert re.search(r'<script src="/static/js/player\.[0-9a-f]{10}\.js" defer></script>', html)


def test_an_ended_pack_has_no_buy_bar_and_no_split_choice(client: FlaskClient, ended_pack: Pack) -> None:
    html = client.get(f"/packs/{ended_pack.slug}").get_data(as_text=True)
    assert 'class="buy-bar"' not in html and "You choose the split" not in html
    assert html.count("<audio") == 1


def test_a_preview_answers_range_requests(client: FlaskClient, pack: Pack) -> None:
    track = pack.albums[0].tracks[0]
    url = f"/packs/{pack.slug}/tracks/{track.id}/preview.mp3"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == whole.data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(whole.data)}"
    assert client.get(url, headers={"Range": f"bytes={len(whole.data) + 5}-"}).status_code == 416


def test_a_pack_with_no_albums_is_not_in_the_feed_or_on_home(app: Flask, client: FlaskClient, pack: Pack) -> None:
    empty = factories.make_pack(app, slug="empty-pack", albums=())
    factories.make_pack(app, slug="coming-empty", albums=(), starts_in=timedelta(days=2))
    feed = feedparser.parse(client.get("/feed.xml").get_data(as_text=True))
    titles = [entry.title for entry in feed.entries]
    assert pack.title in titles and empty.title not in titles and "Coming Empty" not in titles
    home = client.get("/").get_data(as_text=True)
    assert "Empty Pack" not in home and "Coming Empty" not in home
