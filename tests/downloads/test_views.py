"""The download routes through Flask's test client: access, headers, ranges, counting."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from flask.testing import FlaskClient
from werkzeug.http import http_date, parse_options_header

from shop.downloads import counting
from shop.downloads.counting import download_counts, record_download
from shop.downloads.resources import find_download
from shop.extensions import db
from shop.filenames import MAX_COMPONENT_BYTES
from shop.formats import get_format
from shop.models import FORMATS, Album, OrderStatus, Track
from shop.storage import get_storage
from tests import factories
from tests.downloads.conftest import (
    HOSTILE_ALBUMS,
    album_url,
    check_zip_everywhere,
    first_track,
    need_tool,
    pack_url,
    run_tool,
    track_url,
)


def buffered_client(app):
    """A test client that reads every response body to the end, as a browser would.

    (Flask's default test client reads a streamed body only when a test asks for it, and
    an unread body is, correctly, not a completed download.)
    """

    class Buffered(app.test_client_class or FlaskClient):
        def open(self, *args, **kwargs):
            kwargs.setdefault("buffered", True)
            return super().open(*args, **kwargs)

    return Buffered(app, app.response_class, use_cookies=True)


def zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return archive.namelist()


# --- what is served ------------------------------------------------------------------


@pytest.mark.parametrize("fmt, mimetype, extension", [
    ("mp3-v0", "audio/mpeg", "mp3"), ("mp3-320", "audio/mpeg", "mp3"), ("aac", "audio/mp4", "m4a"),
    ("opus", "audio/ogg", "opus"), ("flac", "audio/flac", "flac"), ("alac", "audio/mp4", "m4a"),
    ("wav", "audio/wav", "wav"), ("aiff", "audio/aiff", "aiff"),
])
def test_track_headers_and_body(client, pack, paid_order, fmt: str, mimetype: str, extension: str) -> None:
    assert fmt in FORMATS and len(FORMATS) == 8
    _, token = paid_order
    track = first_track(pack)
    file = track.file(fmt)
    response = client.get(track_url(token, track, fmt))
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.data == get_storage().read_bytes(file.storage_key)
    assert hashlib.sha256(response.data).hexdigest() == file.sha256
    headers = response.headers
    assert headers["Content-Length"] == str(file.size)
    assert headers["ETag"] == f'"{file.sha256}"'
    assert headers["Last-Modified"] == http_date(pack.created_at)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Cache-Control"] == "private"
    disposition, params = parse_options_header(headers["Content-Disposition"])
    assert disposition == "attachment"
    assert params["filename"] == f"The Quiet Fires - 01 Kindling.{extension}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_album_and_pack_zips_in_every_format(client, pack, paid_order, tmp_path: Path, fmt: str) -> None:
    """One folder per album and format, named by the format's label; files named with its
    extension (MP3 V0 and MP3 320 share .mp3, AAC and ALAC .m4a, never in one folder)."""
    _, token = paid_order
    label, extension = get_format(fmt).label, get_format(fmt).extension
    album = pack.albums[0]
    names = check_zip_everywhere(client.get(album_url(token, album, fmt)).data, tmp_path)
    folder = f"The Quiet Fires - Ember Line ({label})"
    assert names == [f"{folder}/01 Kindling.{extension}", f"{folder}/02 Smoke Signals.{extension}",
                     f"{folder}/03 Ash.{extension}", f"{folder}/cover.png", f"{folder}/SHA256SUMS"]
    response = client.get(pack_url(token, fmt))
    assert response.status_code == 200
    assert parse_options_header(response.headers["Content-Disposition"])[1]["filename"] == f"Spring Pack ({label}).zip"
    assert sorted({n.split("/")[0] for n in zip_names(response.data)}) == [
        f"Björk Ørsted - Ünïcode & Co_slash ({label})", folder]


def test_old_mp3_urls_redirect_to_mp3_v0(client, pack, paid_order) -> None:
    _, token = paid_order
    track, album = first_track(pack), pack.albums[0]
    for old, new in ((track_url(token, track, "mp3"), track_url(token, track, "mp3-v0")),
                     (album_url(token, album, "mp3"), album_url(token, album, "mp3-v0")),
                     (pack_url(token, "mp3"), pack_url(token, "mp3-v0"))):
        response = client.get(old)
        assert response.status_code == 301
        assert response.headers["Location"].endswith(new)
        assert client.get(old, follow_redirects=True).data == client.get(new).data
    assert client.get(track_url(token, track, "ogg")).status_code == 404


def test_album_zip_layout_and_checksums(client, pack, paid_order, tmp_path: Path) -> None:
    _, token = paid_order
    album = pack.albums[1]
    response = client.get(album_url(token, album, "flac"))
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Length"] == str(len(response.data))
    names = check_zip_everywhere(response.data, tmp_path)
    folder = "Björk Ørsted - Ünïcode & Co_slash (FLAC)"
    assert names == [f"{folder}/01 Intro_ 東京.flac", f"{folder}/02 Quote _this_.flac",
                     f"{folder}/cover.png", f"{folder}/SHA256SUMS"]
    raw = response.headers["Content-Disposition"].split("filename*=UTF-8''")[1]
    assert unquote(raw) == f"{folder}.zip"

    # Extract and let sha256sum check the folder, as a buyer would.
    target = tmp_path / "out"
    run_tool(need_tool("unzip"), "-q", tmp_path / "checked.zip", "-d", target)
    checked = run_tool(need_tool("sha256sum"), "-c", "SHA256SUMS", cwd=target / folder)
    assert checked.count(": OK") == 3


def test_pack_zip_has_every_album_folder(client, pack, paid_order, tmp_path: Path) -> None:
    _, token = paid_order
    response = client.get(pack_url(token, "mp3-v0"))
    assert response.status_code == 200
    names = check_zip_everywhere(response.data, tmp_path)
    folders = sorted({n.split("/")[0] for n in names})
    assert folders == ["Björk Ørsted - Ünïcode & Co_slash (MP3 V0)", "The Quiet Fires - Ember Line (MP3 V0)"]
    assert len(names) == 3 + 2 + 2 * 2  # tracks, plus cover and SHA256SUMS per album
    disposition = response.headers["Content-Disposition"]
    assert parse_options_header(disposition)[1]["filename"] == "Spring Pack (MP3 V0).zip"


def test_zip_bytes_and_etag_are_deterministic(app, client, pack, paid_order) -> None:
    _, token = paid_order
    album = pack.albums[0]
    first = client.get(album_url(token, album, "wav"))
    second = client.get(album_url(token, album, "wav"))
    assert first.data == second.data
    assert first.headers["ETag"] == second.headers["ETag"]
    assert first.headers["ETag"] != client.get(album_url(token, album, "mp3-v0")).headers["ETag"]
    # Another order of the same pack gets the very same bytes.
    _, other_token = factories.make_order(app, pack, email="other@example.com")
    assert client.get(album_url(other_token, album, "wav")).data == first.data
    # Change the catalog and the validator changes with the bytes.
    album.tracks[0].title = "Kindling (remaster)"
    db.session.commit()
    changed = client.get(album_url(token, album, "wav"))
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert changed.data != first.data


def test_hostile_names_stay_inside_the_extraction_folder(app, client, tmp_path: Path) -> None:
    pack = factories.make_pack(app, slug="hostile", albums=HOSTILE_ALBUMS)
    _, token = factories.make_order(app, pack)
    response = client.get(pack_url(token, "mp3-v0"))
    assert response.status_code == 200
    # The path-safety checks need only Python's zipfile; the external tools come after.
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = archive.namelist()
    assert len(names) == len(set(n.casefold() for n in names)) == 9 + 3 + 1 + 1 + 4 * 2
    for name in names:
        for part in name.split("/"):
            assert part not in ("", ".", "..") and not part.startswith(".")
            assert not set('\\:*?"<>|') & set(part)
            assert part == part.strip(" .")
            assert len(part.encode()) <= MAX_COMPONENT_BYTES
            assert part.split(".")[0].upper() not in {"CON", "NUL", "LPT1"}
    folder = "_.._etc - CON (MP3 V0)"
    assert f"{folder}/01.mp3" in names  # ".." as a title
    assert f"{folder}/04 .hidden.mp3" in names
    assert "Ünïcode - Ünïcode (MP3 V0)/02 LPT1.mp3" in names
    assert "a_b - x (MP3 V0)/01 One.mp3" in names and "A_B - X (MP3 V0) (2)/01 Two.mp3" in names
    assert check_zip_everywhere(response.data, tmp_path) == names
    target = tmp_path / "extract"
    run_tool(need_tool("unzip"), "-q", tmp_path / "checked.zip", "-d", target)
    extracted = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert extracted == sorted(names)
    disposition = client.get(album_url(token, pack.albums[0], "mp3-v0")).headers["Content-Disposition"]
    assert unquote(disposition.split("''")[1]) == f"{folder}.zip"
    assert parse_options_header(disposition)[1]["filename"] == f"{folder}.zip"


# --- who may download what -----------------------------------------------------------


def test_same_plain_404_for_everything_else(app, client, pack, paid_order) -> None:
    order, token = paid_order
    other_pack = factories.make_pack(app, slug="other-pack")
    foreign_album = other_pack.albums[0]
    foreign_track = first_track(other_pack)
    _, pending_token = factories.make_order(app, pack, paid=False, email="pending@example.com")
    refunded, refunded_token = factories.make_order(app, pack, email="refund@example.com")
    refunded.status = OrderStatus.REFUNDED.value
    db.session.commit()
    album = pack.albums[0]
    track = first_track(pack)
    wrong_token = "A" * 43
    urls = [
        track_url(wrong_token, track), album_url(wrong_token, album), pack_url(wrong_token),
        track_url("short", track), pack_url("../../etc"),
        track_url(pending_token, track), album_url(pending_token, album), pack_url(pending_token),
        track_url(refunded_token, track), album_url(refunded_token, album), pack_url(refunded_token),
        track_url(token, foreign_track), album_url(token, foreign_album),
        track_url(token, 999_999), album_url(token, 999_999),
        track_url(token, track, "ogg"), track_url(token, track, "FLAC"), album_url(token, album, "zip"),
        pack_url(token, "vorbis"), pack_url(token, "MP3-V0"), f"/orders/{token}/tracks/abc/flac",
        f"/orders/{token}/tracks/-1/flac",
        f"/orders/{token}/tracks/1.5/flac", f"/orders/{token}/albums/x/flac.zip",
        f"/orders/{token}/tracks/{track.id}/..%2F..%2Fetc%2Fpasswd",
        f"/orders/{token}/tracks/{track.id}/%2e%2e", f"/orders/{token}/albums/{album.id}/..%2Fflac.zip",
        f"/orders/{token}/pack/..%2F..%2Fflac.zip", f"/orders/{token}/tracks/{track.id}/flac%00",
        f"/orders/{token}/tracks/{track.id}/flac/../../../../etc/passwd",
        f"/orders/{token}/albums/{album.id}/flac.zip/../../../etc/passwd",
    ]
    bodies = set()
    for url in urls:
        for method in (client.get, client.head):
            response = method(url)
            assert response.status_code == 404, url
            assert "Content-Disposition" not in response.headers
        bodies.add(client.get(url).data)
    assert len(bodies) == 1, "every refusal looks the same"
    assert download_counts(order) == {}


def test_storage_keys_come_from_the_catalog_only(pack, paid_order) -> None:
    _, token = paid_order
    download = find_download(token, "track", first_track(pack).id, "wav")
    assert download is not None
    assert download.storage_key == first_track(pack).file("wav").storage_key
    assert download.storage_key.startswith("audio/")


def test_album_without_files_in_the_format_is_404(client, pack, paid_order) -> None:
    _, token = paid_order
    album = pack.albums[0]
    for track in album.tracks:
        for file in list(track.files):
            if file.format == "wav":
                track.files.remove(file)
    db.session.commit()
    assert client.get(album_url(token, album, "wav")).status_code == 404
    assert client.get(track_url(token, album.tracks[0], "wav")).status_code == 404
    assert client.get(album_url(token, album, "mp3-v0")).status_code == 200
    names = zip_names(client.get(pack_url(token, "wav")).data)
    assert {n.split("/")[0] for n in names} == {"Björk Ørsted - Ünïcode & Co_slash (WAV)"}


# --- ranges --------------------------------------------------------------------------


def test_every_range_of_a_zip_matches_the_full_bytes(client, pack, paid_order) -> None:
    order, token = paid_order
    url = pack_url(token, "flac")
    full = client.get(url).data
    size = len(full)
    download = find_download(token, "pack", None, "flac")
    boundaries = {s.offset for s in download.source.segments}
    points = {0, 1, size - 2, size - 1}
    for b in boundaries:
        points |= {b - 1, b, b + 1}
    points = sorted(p for p in points if 0 <= p < size)
    rng = random.Random(9)
    checks = [(p, p) for p in points] + [(p, None) for p in points]
    checks += [(a, b) for a, b in zip(points, points[1:], strict=False)]
    checks += [tuple(sorted(rng.sample(range(size), 2))) for _ in range(150)]
    for first, last in checks:
        header = f"bytes={first}-" if last is None else f"bytes={first}-{last}"
        response = client.get(url, headers={"Range": header})
        end = size - 1 if last is None else last
        assert response.status_code == 206, header
        assert response.data == full[first:end + 1], header
        assert response.headers["Content-Range"] == f"bytes {first}-{end}/{size}"
        assert response.headers["Content-Length"] == str(end - first + 1)
        assert response.headers["ETag"] == client.head(url).headers["ETag"]


def test_track_first_and_last_byte(client, pack, paid_order) -> None:
    _, token = paid_order
    url = track_url(token, first_track(pack), "mp3-v0")
    full = client.get(url).data
    assert client.get(url, headers={"Range": "bytes=0-0"}).data == full[:1]
    last = client.get(url, headers={"Range": f"bytes={len(full) - 1}-"})
    assert last.status_code == 206 and last.data == full[-1:]
    past = client.get(url, headers={"Range": f"bytes=10-{len(full) * 10}"})
    assert past.data == full[10:]
    assert past.headers["Content-Range"] == f"bytes 10-{len(full) - 1}/{len(full)}"


def suffix_urls(token: str, pack) -> list[str]:
    return [track_url(token, first_track(pack), "mp3-v0"), album_url(token, pack.albums[0], "flac"),
            pack_url(token, "wav")]


def test_suffix_range_is_the_last_bytes(client, pack, paid_order) -> None:
    _, token = paid_order
    for url in suffix_urls(token, pack):
        full = client.get(url).data
        size = len(full)
        assert size > 500, url
        response = client.get(url, headers={"Range": "bytes=-500"})
        assert response.status_code == 206, url
        assert response.data == full[-500:], url
        assert response.headers["Content-Range"] == f"bytes {size - 500}-{size - 1}/{size}"
        assert response.headers["Content-Length"] == "500"


def test_suffix_longer_than_the_file_is_the_whole_file(client, pack, paid_order) -> None:
    _, token = paid_order
    for url in suffix_urls(token, pack):
        full = client.get(url).data
        size = len(full)
        for suffix in (size, size + 1, size * 10):
            response = client.get(url, headers={"Range": f"bytes=-{suffix}"})
            assert response.status_code == 206, (url, suffix)
            assert response.data == full
            assert response.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
            assert response.headers["Content-Length"] == str(size)


def test_suffix_ranges_across_zip_members(client, pack, paid_order) -> None:
    """A suffix range starts wherever ``size - N`` falls: the same member search as any range."""
    _, token = paid_order
    url = pack_url(token, "flac")
    full = client.get(url).data
    size = len(full)
    download = find_download(token, "pack", None, "flac")
    starts = {0, 1, size - 1}
    for segment in download.source.segments:
        starts |= {segment.offset - 1, segment.offset, segment.offset + 1}
    for first in sorted(p for p in starts if 0 <= p < size):
        response = client.get(url, headers={"Range": f"bytes=-{size - first}"})
        assert response.status_code == 206, first
        assert response.data == full[first:], first
        assert response.headers["Content-Range"] == f"bytes {first}-{size - 1}/{size}"


def test_suffix_range_on_head_and_with_if_range(client, pack, paid_order) -> None:
    _, token = paid_order
    url = album_url(token, pack.albums[1], "wav")
    full = client.get(url)
    size = len(full.data)
    head = client.head(url, headers={"Range": "bytes=-500"})
    assert head.status_code == 206 and head.data == b""
    assert head.headers["Content-Range"] == f"bytes {size - 500}-{size - 1}/{size}"
    assert head.headers["Content-Length"] == "500"
    etag, modified = full.headers["ETag"], full.headers["Last-Modified"]
    for validator in (etag, modified):
        resumed = client.get(url, headers={"Range": "bytes=-500", "If-Range": validator})
        assert resumed.status_code == 206 and resumed.data == full.data[-500:]
    for stale in ('"not-it"', f"W/{etag}"):
        fresh = client.get(url, headers={"Range": "bytes=-500", "If-Range": stale})
        assert fresh.status_code == 200 and fresh.data == full.data, stale
        assert "Content-Range" not in fresh.headers


@pytest.mark.parametrize("header", [
    "bytes=abc", "bytes=0-1,4-5", "bytes=-100,-5", "bytes=10-5", "bytes=2048-", "bytes=99999-",
    "bytes=", "bytes=0-1, 3-", "bytes = -0", "bytes=-0",
    # Finding L3: numbers of thousands of digits are a 416, not a 500 from int().
    "bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000,
])
def test_bad_ranges_are_416_with_the_size(client, pack, paid_order, header: str) -> None:
    order, token = paid_order
    url = track_url(token, first_track(pack), "flac")
    for method in (client.get, client.head):
        response = method(url, headers={"Range": header})
        assert response.status_code == 416, header
        assert response.headers["Content-Range"] == "bytes */2048"
    assert download_counts(order) == {}


def test_huge_range_numbers_on_a_zip_are_416(client, pack, paid_order) -> None:
    _, token = paid_order
    url = album_url(token, pack.albums[0], "mp3-v0")
    size = len(client.get(url).data)
    for header in ("bytes=" + "9" * 5000 + "-", "bytes=-" + "9" * 5000):
        response = client.get(url, headers={"Range": header})
        assert response.status_code == 416
        assert response.headers["Content-Range"] == f"bytes */{size}"


def test_unknown_range_unit_gets_the_whole_file(client, pack, paid_order) -> None:
    _, token = paid_order
    response = client.get(track_url(token, first_track(pack)), headers={"Range": "items=0-1"})
    assert response.status_code == 200 and len(response.data) == 2048


# --- conditional requests and HEAD ---------------------------------------------------


def test_head_is_headers_only(app, pack, paid_order) -> None:
    client = buffered_client(app)
    order, token = paid_order
    url = album_url(token, pack.albums[0], "flac")
    get = client.get(url)
    head = client.head(url)
    assert head.status_code == 200 and head.data == b""
    for name in ("Content-Length", "ETag", "Last-Modified", "Content-Type", "Content-Disposition",
                 "Accept-Ranges", "Cache-Control"):
        assert head.headers[name] == get.headers[name]
    ranged = client.head(url, headers={"Range": "bytes=5-9"})
    assert ranged.status_code == 206 and ranged.data == b""
    assert ranged.headers["Content-Length"] == "5"
    assert download_counts(order) == {("album", pack.albums[0].id, "flac"): 1}  # the GET only


def test_not_modified(app, pack, paid_order) -> None:
    client = buffered_client(app)
    order, token = paid_order
    url = album_url(token, pack.albums[0], "mp3-v0")
    etag = client.head(url).headers["ETag"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"x", W/{etag}'},
                    {"If-None-Match": "*"}, {"If-Modified-Since": http_date(pack.created_at)},
                    {"If-Modified-Since": http_date(pack.created_at + timedelta(days=1))}):
        response = client.get(url, headers=headers)
        assert response.status_code == 304, headers
        assert response.data == b""
        assert response.headers["ETag"] == etag
    stale = client.get(url, headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200
    assert download_counts(order) == {("album", pack.albums[0].id, "mp3-v0"): 1}


def test_if_range_with_etag_and_date(client, pack, paid_order) -> None:
    _, token = paid_order
    url = album_url(token, pack.albums[1], "wav")
    full = client.get(url)
    etag, modified = full.headers["ETag"], full.headers["Last-Modified"]
    for validator in (etag, modified):
        resumed = client.get(url, headers={"Range": "bytes=100-", "If-Range": validator})
        assert resumed.status_code == 206 and resumed.data == full.data[100:]
    for stale in ('"not-it"', f"W/{etag}", http_date(pack.created_at - timedelta(seconds=5))):
        fresh = client.get(url, headers={"Range": "bytes=100-", "If-Range": stale})
        assert fresh.status_code == 200 and fresh.data == full.data, stale


def test_if_match_mismatch_is_412(client, pack, paid_order) -> None:
    _, token = paid_order
    response = client.get(track_url(token, first_track(pack)), headers={"If-Match": '"nope"'})
    assert response.status_code == 412


# --- counting ------------------------------------------------------------------------


def test_counts_complete_downloads_only(app, pack, paid_order) -> None:
    client = buffered_client(app)
    order, token = paid_order
    album, track = pack.albums[0], first_track(pack)
    url = album_url(token, album, "flac")
    size = int(client.head(url).headers["Content-Length"])
    client.get(url, headers={"Range": "bytes=0-99"})  # stops before the end: not counted
    assert download_counts(order) == {}
    client.get(url, headers={"Range": "bytes=-128"})  # a reader of the zip's directory: not counted
    assert download_counts(order) == {}
    client.get(url, headers={"Range": "bytes=100-"})  # the resume reaches the end: counted
    client.get(url, headers={"Range": f"bytes=-{size + 10}"})  # a suffix covering it all: counted
    client.get(url)
    client.get(url, headers={"Range": f"bytes=0-{size - 1}"})
    client.get(track_url(token, track, "mp3-v0"))
    client.get(pack_url(token, "wav"))
    client.get(pack_url(token, "wav"), headers={"If-None-Match": "*"})
    assert download_counts(order) == {
        ("album", album.id, "flac"): 4,
        ("track", track.id, "mp3-v0"): 1,
        ("pack", None, "wav"): 1,
    }
    other, _ = factories.make_order(app, pack, email="x@example.com")
    assert download_counts(other) == {}


def test_a_client_that_goes_away_is_not_counted(app, pack, paid_order) -> None:
    order, token = paid_order
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": pack_url(token, "wav"), "SERVER_NAME": "x",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
               "wsgi.errors": io.StringIO()}
    statuses = []
    body = app.wsgi_app(environ, lambda status, headers: statuses.append(status))
    next(iter(body))  # the first chunk was written, then the connection dropped
    body.close()
    assert statuses == ["200 OK"]
    assert download_counts(order) == {}
    body = app.wsgi_app(environ, lambda status, headers: None)
    b"".join(body)
    body.close()
    assert download_counts(order) == {("pack", None, "wav"): 1}


@pytest.mark.postgresql
def test_concurrent_completions_are_all_counted(app, pack, paid_order) -> None:
    order, _ = paid_order
    album_id = pack.albums[0].id
    errors = []

    def complete() -> None:
        try:
            with app.app_context():
                for _ in range(5):
                    record_download(order.id, "album", album_id, "mp3-v0")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=complete) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert download_counts(order) == {("album", album_id, "mp3-v0"): 30}


def test_a_failed_count_never_breaks_the_download(app, client, pack, paid_order, monkeypatch,
                                                  caplog) -> None:
    _, token = paid_order

    def broken(*args: object) -> None:
        raise RuntimeError("database is down")

    monkeypatch.setattr(counting, "record_download", broken)
    response = client.get(track_url(token, first_track(pack)))
    assert response.status_code == 200 and len(response.data) == 2048
    assert "could not count a download" in caplog.text


@pytest.mark.postgresql
def test_count_rows_are_unique_per_item(app, pack, paid_order) -> None:
    from sqlalchemy.exc import IntegrityError

    from shop.downloads.models import DownloadCount

    order, _ = paid_order
    db.session.add(DownloadCount(order_id=order.id, kind="pack", item_id=0, format="mp3-v0"))
    db.session.commit()
    db.session.add(DownloadCount(order_id=order.id, kind="pack", item_id=0, format="mp3-v0"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(DownloadCount(order_id=order.id, kind="pack", item_id=5, format="mp3-v0"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


# --- nginx hand-off ------------------------------------------------------------------


def test_x_accel_redirect_for_single_files(app, client, pack, paid_order) -> None:
    order, token = paid_order
    app.config["X_ACCEL_REDIRECT"] = "/protected-media/"
    track = first_track(pack)
    response = client.get(track_url(token, track, "flac"))
    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Accel-Redirect"] == "/protected-media/" + track.file("flac").storage_key
    assert response.mimetype == "audio/flac"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert download_counts(order) == {("track", track.id, "flac"): 1}
    assert client.head(track_url(token, track, "flac")).headers["X-Accel-Redirect"]
    partial = client.get(track_url(token, track, "flac"), headers={"Range": "bytes=0-9"})
    assert partial.headers["X-Accel-Redirect"]
    assert download_counts(order) == {("track", track.id, "flac"): 1}
    assert client.get(track_url(token, track, "flac"),
                      headers={"Range": "bytes=1-0"}).status_code == 416
    # Zips are never handed off: nginx has no file for them.
    zipped = client.get(album_url(token, pack.albums[0], "flac"))
    assert "X-Accel-Redirect" not in zipped.headers and zip_names(zipped.data)
    # Other storage backends have no file for nginx either.
    app.config["STORAGE"] = "s3"
    assert "X-Accel-Redirect" not in client.head(track_url(token, track, "flac")).headers


def test_models_used_by_the_views_are_the_catalogs(pack) -> None:
    assert isinstance(pack.albums[0], Album) and isinstance(first_track(pack), Track)
