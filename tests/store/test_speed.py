"""Speed: text responses compressed (Brotli, else gzip) and never a zip, an audio file or a
Range answer; static files under content-hashed names with a year-long immutable cache."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient

from shop.models import Pack
from shop.static_assets import hashed_name

STATIC = Path(__file__).resolve().parents[2] / "shop" / "static"


def test_a_page_is_sent_with_brotli_or_gzip_as_the_browser_accepts(client: FlaskClient, pack: Pack) -> None:
    plain = client.get(f"/packs/{pack.slug}")
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    html = plain.get_data(as_text=True)
    br = client.get(f"/packs/{pack.slug}", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br.headers["Content-Encoding"] == "br" and "Accept-Encoding" in br.headers["Vary"]
    assert len(br.data) < len(plain.data) / 3
    # Same page apart from the per-view CSRF token and the threshold's signature (timestamped
    # to the second: two views a second apart differ there).
    strip = re.compile(r'name="(?:csrf_token|threshold)" value="[^"]*"')
    assert strip.sub("", brotli.decompress(br.data).decode()) == strip.sub("", html)
    gz = client.get(f"/packs/{pack.slug}", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert strip.sub("", gzip.decompress(gz.data).decode()) == strip.sub("", html)
    assert "Content-Encoding" not in client.get("/", headers={"Accept-Encoding": "identity"}).headers
    assert "Content-Encoding" not in client.get("/", headers={"Accept-Encoding": "br;q=0, gzip;q=0"}).headers


def test_json_and_the_feed_are_compressed_when_large_enough(client: FlaskClient, pack: Pack) -> None:
    feed = client.get("/feed.xml", headers={"Accept-Encoding": "gzip"})
    assert feed.headers["Content-Encoding"] == "gzip"
    small = client.get(f"/packs/{pack.slug}/stats.json", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers  # a few bytes: not worth it
    assert small.json["purchases"] == 0


def test_audio_zips_and_range_answers_are_never_compressed(client: FlaskClient, pack: Pack,
                                                            paid_order: tuple[object, str]) -> None:
    _, token = paid_order
    track = pack.albums[0].tracks[0]
    headers = {"Accept-Encoding": "gzip, br"}
    preview = client.get(f"/packs/{pack.slug}/tracks/{track.id}/preview.mp3", headers=headers)
    assert preview.status_code == 200 and "Content-Encoding" not in preview.headers
    preview.close()
    ranged = client.get(f"/orders/{token}/tracks/{track.id}/flac", headers={**headers, "Range": "bytes=0-99"})
    assert ranged.status_code == 206 and "Content-Encoding" not in ranged.headers and len(ranged.data) == 100
    ranged.close()
    album_zip = client.get(f"/orders/{token}/albums/{pack.albums[0].id}/flac.zip", headers=headers)
    assert album_zip.status_code == 200 and "Content-Encoding" not in album_zip.headers
    assert album_zip.data[:2] == b"PK"
    album_zip.close()


@pytest.mark.parametrize("app_overrides", [{"COMPRESS": False}])
def test_compression_can_be_turned_off(client: FlaskClient) -> None:
    response = client.get("/about", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and "Content-Encoding" not in response.headers


@pytest.mark.parametrize("name", ["css/site.css", "js/site.js", "css/admin.css", "favicon.svg"])
def test_static_files_have_hashed_names_and_a_year_long_cache(app: Flask, client: FlaskClient, name: str) -> None:
    content = (STATIC / name).read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:10]
    with app.test_request_context():
        url = url_for("static", filename=name)
    assert digest in url and url == f"/static/{hashed_name(name, content)}"
    response = client.get(url)
    assert response.status_code == 200 and response.data == content
    cache = response.headers["Cache-Control"]
    assert "public" in cache and "max-age=31536000" in cache and "immutable" in cache
    response.close()
    plain = client.get(f"/static/{name}")
    assert plain.status_code == 200 and "immutable" not in plain.headers.get("Cache-Control", "")
    plain.close()
    assert client.get(url.replace(digest, "0" * 10)).status_code == 404


def test_pages_link_the_hashed_names(client: FlaskClient, pack: Pack) -> None:
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'href="/static/css/site\.[0-9a-f]{10}\.css"', html)
    assert re.search(r'src="/static/js/site\.[0-9a-f]{10}\.js"', html)


def test_a_compressed_static_file_still_answers_304(client: FlaskClient) -> None:
    with client.application.test_request_context():
        url = url_for("static", filename="css/site.css")
    first = client.get(url, headers={"Accept-Encoding": "br"})
    assert first.headers["Content-Encoding"] == "br" and first.headers["ETag"].startswith("W/")
    first.close()
    again = client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    again.close()
