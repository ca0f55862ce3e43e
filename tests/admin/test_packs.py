"""Packs in the console: create and schedule, edit, upload masters (files or a zip, streamed),
import, encode, progress, and going on sale only once complete."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from shop.catalog.encode_sync import encode_now
from shop.catalog.jobs import waiting_track_ids
from shop.extensions import db
from shop.models import Album, Encode, Pack, utcnow
from tests.admin.conftest import audit_rows, pack_form, when
from tests.catalog.audio import write_album

XHR = {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"}


@pytest.fixture
def album_dir(tmp_path: Path) -> Path:
    return write_album(tmp_path / "Quiet Harbour - Low Tide", "Quiet Harbour", "Low Tide", ["Gulls", "Fog"],
                       seconds=0.5)


def upload(admin_client, pack_id: int, files: list[tuple[str, bytes]], headers=XHR):
    data = {"files": [(io.BytesIO(body), name) for name, body in files]}
    return admin_client.post(f"/admin/packs/{pack_id}/upload", data=data, headers=headers,
                             content_type="multipart/form-data")


def album_files(folder: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def test_create_a_pack_with_the_catalog_rules(app, admin_client):
    page = admin_client.get("/admin/packs/new").data.decode()
    assert 'name="starts_at" type="datetime-local"' in page
    bad = admin_client.post("/admin/packs/new", data=pack_form(
        slug="Bad Slug", currency="euro", min_price="1e3", suggested_price="0.50",
        ends_at=when(timedelta(hours=1))))
    assert bad.status_code == 400
    html = bad.data.decode()
    assert "lowercase letters, digits and single hyphens" not in html or "Bad Slug" in html
    assert "must be three capital letters" in html and "exponents are not allowed" in html
    assert "the end must come after the start" in html
    assert db.session.scalar(db.select(db.func.count(Pack.id))) == 0
    below = admin_client.post("/admin/packs/new", data=pack_form(suggested_price="1.00"))
    assert b"is below the minimum" in below.data
    past = admin_client.post("/admin/packs/new", data=pack_form(starts_at=when(-timedelta(hours=1))))
    assert b"the start must be in the future" in past.data
    slug = admin_client.post("/admin/packs/new", data=pack_form(slug="Bad Slug"))
    assert b"must be lowercase letters" in slug.data

    created = admin_client.post("/admin/packs/new", data=pack_form())
    assert created.status_code == 303
    pack = db.session.scalar(db.select(Pack).where(Pack.slug == "autumn-2026"))
    assert (pack.title, pack.currency, pack.min_price_cents, pack.suggested_price_cents) == \
        ("Autumn Pack", "EUR", 200, 950)
    assert pack.ends_at - pack.starts_at == timedelta(days=14)
    assert created.headers["Location"] == f"/admin/packs/{pack.id}"
    assert audit_rows()[-1].action == "pack.create"
    again = admin_client.post("/admin/packs/new", data=pack_form())
    assert b"already exists" in again.data
    listing = admin_client.get("/admin/packs").data.decode()
    assert "Autumn Pack" in listing and "scheduled" in listing
    page = admin_client.get(f"/admin/packs/{pack.id}").data.decode()
    assert "no albums yet: upload an album" in page and "Put on sale now" in page


def test_edit_while_not_on_sale_only(app, admin_client, new_pack, pack):
    response = admin_client.post(f"/admin/packs/{new_pack.id}/edit",
                                 data=pack_form(title="Autumn Pack II", slug="ignored", suggested_price="12.00"))
    assert response.status_code == 303
    db.session.expire_all()
    assert (new_pack.title, new_pack.slug, new_pack.suggested_price_cents) == ("Autumn Pack II", "autumn-2026", 1200)
    assert audit_rows()[-1].action == "pack.update"
    # The fixture's pack is on sale: no edits, no uploads.
    assert b"can no longer be edited: the pack is on sale" in admin_client.get(f"/admin/packs/{pack.id}/edit").data
    refused = admin_client.post(f"/admin/packs/{pack.id}/edit", data=pack_form(title="Changed"))
    assert refused.status_code == 400
    db.session.expire_all()
    assert pack.title != "Changed"
    assert upload(admin_client, pack.id, [("a.flac", b"x")]).status_code == 409


def test_upload_files_imports_the_album_and_queues_its_encoding(app, admin_client, new_pack, album_dir):
    response = upload(admin_client, new_pack.id, album_files(album_dir))
    assert response.status_code == 200, response.data
    answer = response.get_json()
    assert answer["ok"] and answer["tracks_to_encode"] == 2
    assert answer["albums"][0]["label"] == "Quiet Harbour \u2014 Low Tide"
    assert answer["queue_unavailable"]  # no Redis in this app: the sweep picks them up later
    album = db.session.scalar(db.select(Album).where(Album.pack_id == new_pack.id))
    assert [t.title for t in album.tracks] == ["Gulls", "Fog"] and album.cover_key
    assert audit_rows()[-1].action == "pack.upload"

    progress = admin_client.get(f"/admin/packs/{new_pack.id}/progress").get_json()
    [row] = progress["albums"]
    assert row["state"] == "encoding" and row["encodes_done"] == 0 and row["encodes_total"] == 18
    assert progress["busy"] and any("still to encode" in gap for gap in progress["missing"])
    refused = admin_client.post(f"/admin/packs/{new_pack.id}/put-on-sale", follow_redirects=True)
    assert b"Not on sale" in refused.data and b"still to encode" in refused.data

    summary = encode_now(waiting_track_ids(pack_id=new_pack.id), workers=1)
    assert not summary.failures
    progress = admin_client.get(f"/admin/packs/{new_pack.id}/progress").get_json()
    assert progress["albums"][0]["state"] in ("encoded", "ready") and progress["missing"] == []
    assert "Everything is ready" in progress["html"]
    response = admin_client.post(f"/admin/packs/{new_pack.id}/put-on-sale")
    assert response.status_code == 303
    db.session.expire_all()
    assert new_pack.is_on_sale() and new_pack.starts_at <= utcnow()
    assert audit_rows()[-1].action == "pack.put_on_sale"
    # The same album again changes nothing (and the pack on sale takes no more uploads).
    assert upload(admin_client, new_pack.id, album_files(album_dir)).status_code == 409


def test_a_failed_encode_is_explained(app, admin_client, new_pack, album_dir):
    upload(admin_client, new_pack.id, album_files(album_dir))
    encode = db.session.scalars(db.select(Encode)).first()
    encode.status, encode.error, encode.attempts = "failed", "the master is truncated at 0.4 s", 1
    db.session.commit()
    progress = admin_client.get(f"/admin/packs/{new_pack.id}/progress").get_json()
    assert progress["albums"][0]["state"] == "failed"
    assert "the master is truncated at 0.4 s" in progress["albums"][0]["failures"][0]
    assert any("encode(s) failed" in gap for gap in progress["missing"])
    assert "the master is truncated" in admin_client.get(f"/admin/packs/{new_pack.id}").data.decode()


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in entries:
            archive.writestr(name, body)
    return buffer.getvalue()


def test_upload_a_zip_of_the_album(app, admin_client, new_pack, album_dir):
    body = zip_of([(f"{album_dir.name}/{name}", data) for name, data in album_files(album_dir)])
    response = upload(admin_client, new_pack.id, [("low-tide.zip", body)])
    assert response.status_code == 200, response.data
    assert response.get_json()["albums"][0]["label"] == "Quiet Harbour \u2014 Low Tide"


@pytest.mark.parametrize("entries, message", [
    ([("../evil.flac", b"x")], "points outside the album"),
    ([("/etc/evil.flac", b"x")], "absolute path"),
    ([("C:/evil.flac", b"x")], "absolute path"),
    ([(f"{n}.flac", b"") for n in range(1001)], "at most 1000"),
])
def test_unsafe_zips_are_refused_and_change_nothing(app, admin_client, new_pack, entries, message):
    response = upload(admin_client, new_pack.id, [("album.zip", zip_of(entries))])
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert db.session.scalar(db.select(db.func.count(Album.id))) == 0


def test_other_bad_uploads(app, admin_client, new_pack, album_dir):
    mixed = upload(admin_client, new_pack.id, [("a.zip", zip_of([("x.flac", b"x")])), ("b.flac", b"x")])
    assert "one zip per album" in mixed.get_json()["error"]
    lossy = upload(admin_client, new_pack.id, [("notes.txt", b"hello")])
    assert "not a master" in lossy.get_json()["error"]
    corrupt = upload(admin_client, new_pack.id, [("01 Broken.flac", b"not audio at all")])
    assert corrupt.status_code == 400 and "import refused, nothing was changed" in corrupt.get_json()["error"]
    assert audit_rows()[-1].action == "pack.upload.refused"
    # Without JavaScript the form posts the same fields and the page says what happened.
    plain = upload(admin_client, new_pack.id, [("notes.txt", b"hello")], headers={})
    assert plain.status_code == 303
    assert b"Upload refused" in admin_client.get(f"/admin/packs/{new_pack.id}").data
    empty = admin_client.post(f"/admin/packs/{new_pack.id}/upload", data={})
    assert empty.status_code == 303


def test_only_the_upload_takes_large_bodies(app, admin_client, new_pack, pack):
    big = b"\0" * (200 * 1024)
    # Every other endpoint keeps the app's 64 KiB cap.
    assert admin_client.post("/admin/packs/new", data={"title": big.decode()}).status_code == 413
    app.config["ADMIN_UPLOAD_MAX_BYTES"] = 100 * 1024
    response = upload(admin_client, new_pack.id, [("01 a.flac", big)])
    assert response.status_code == 413 and "SHOP_ADMIN_UPLOAD_MAX_BYTES" in response.get_json()["error"]


def test_upload_streams_to_disk_not_memory(app, admin_client, new_pack, monkeypatch):
    """File parts go to files as they arrive: the parser never holds a part in memory."""
    from shop.admin import multipart

    seen = []
    real = multipart.receive

    def spy(*args, **kwargs):
        received = real(*args, **kwargs)
        seen.extend(path for _, path in received.files)
        return received

    monkeypatch.setattr(multipart, "receive", spy)
    upload(admin_client, new_pack.id, [("01 a.flac", b"\1" * (300 * 1024))])
    assert seen and all(re.search(r"admin-upload-[^/]+/parts/", str(p)) for p in seen)


def test_seed_needs_the_queue(app, admin_client, new_pack, album_dir, redis_down):
    upload(admin_client, new_pack.id, album_files(album_dir))
    response = admin_client.post(f"/admin/packs/{new_pack.id}/seed", follow_redirects=True)
    assert b"The queue is unavailable" in response.data


def test_seed_is_a_job_on_the_encoding_queue(app, admin_client, new_pack, album_dir, redis_app):
    from rq import Queue

    from shop.queue import get_redis

    upload(admin_client, new_pack.id, album_files(album_dir))
    admin_client.post(f"/admin/packs/{new_pack.id}/seed")
    admin_client.post(f"/admin/packs/{new_pack.id}/seed")  # a double click: the same job
    jobs = Queue("encoding", connection=get_redis()).get_jobs()
    seeds = [j for j in jobs if j.func_name == "shop.dropbox.seed.seed_albums"]
    assert len(seeds) == 1
    assert [a.action for a in audit_rows()[-2:]] == ["pack.seed", "pack.seed"]
    page = admin_client.get(f"/admin/packs/{new_pack.id}").data.decode()
    assert 'id="seed-job">queued<' in page


def test_a_zip_member_that_is_a_link_is_refused(app, admin_client, new_pack):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("01 a.flac")
        link.external_attr = (0o120777 << 16)  # a symbolic link, as zip -y stores one
        archive.writestr(link, "/etc/passwd")
    response = upload(admin_client, new_pack.id, [("album.zip", buffer.getvalue())])
    assert response.status_code == 400 and "is a link" in response.get_json()["error"]


@pytest.fixture
def operator_csrf_client(app_config, tmp_path):
    """An operator's client on an app with CSRF on (as in production)."""
    from flask import g

    from shop import create_app
    from shop.admin import operators
    from tests.admin.conftest import PASSWORD, csrf_token

    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    @app.before_request
    def forget_per_request_caches() -> None:
        # One app context stays open across these requests (a server pushes one per request):
        # Flask-Login's user and Flask-WTF's token are cached on ``g``.
        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    with app.app_context():
        db.create_all()
        operators.create("ops@example.com", PASSWORD)
        client = app.test_client()
        token = csrf_token(client)
        client.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD, "csrf_token": token})
        client.post("/admin/packs/new", data={**pack_form(), "csrf_token": csrf_token(client, "/admin/packs/new")})
        pack = db.session.scalar(db.select(Pack))
        yield client, pack, csrf_token(client, f"/admin/packs/{pack.id}")
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_the_upload_checks_csrf_itself(operator_csrf_client, album_dir):
    client, pack, token = operator_csrf_client
    files = album_files(album_dir)
    refused = upload(client, pack.id, files)
    assert refused.status_code == 400 and b"form has expired" in refused.data
    assert db.session.scalar(db.select(db.func.count(Album.id))) == 0
    wrong = upload(client, pack.id, files, headers={**XHR, "X-CSRFToken": "not-the-token"})
    assert wrong.status_code == 400
    by_header = upload(client, pack.id, files, headers={**XHR, "X-CSRFToken": token})
    assert by_header.status_code == 200, by_header.data
    # Without JavaScript the token is the form's first field, read from the streamed body.
    data = {"csrf_token": token, "files": [(io.BytesIO(b), n) for n, b in files]}
    plain = client.post(f"/admin/packs/{pack.id}/upload", data=data, content_type="multipart/form-data")
    assert plain.status_code == 303
