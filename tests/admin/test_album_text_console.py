"""The console's forms for an album's description and credits and a track's lyrics: saved,
audited, shown on the pack page sanitised; too long, missing, foreign or CSRF-less input refused
with a clear error and nothing saved."""

from __future__ import annotations

import re

import pytest
from flask import Flask, g
from markupsafe import escape

from shop import create_app
from shop.admin import operators
from shop.extensions import db
from shop.models import Album, Pack, Track
from shop.store.album_text import LIMITS
from tests import factories
from tests.admin.conftest import PASSWORD, audit_rows


def first_album(pack: Pack) -> Album:
    return sorted(pack.albums, key=lambda a: a.position)[0]


def text_url(pack: Pack, album: Album) -> str:
    return f"/admin/packs/{pack.id}/albums/{album.id}/text"


def lyrics_url(pack: Pack, album: Album, track: Track) -> str:
    return f"/admin/packs/{pack.id}/albums/{album.id}/tracks/{track.id}/lyrics"


def test_the_pack_console_page_has_a_form_per_album(admin_client, pack):
    html = admin_client.get(f"/admin/packs/{pack.id}").get_data(as_text=True)
    assert "What the pack page says" in html
    for album in pack.albums:
        assert f'action="{text_url(pack, album)}"' in html
        assert f'<label for="album-{album.id}-description">Description of {escape(album.title)}</label>' in html
        for track in album.tracks:
            assert f'action="{lyrics_url(pack, album, track)}"' in html


def test_saving_the_description_and_credits(app, admin_client, client, pack):
    album = first_album(pack)
    description, credits = "A *warm* record.\r\n<script>alert(1)</script>\x00", "Mixed by [Bo](https://bo.example/)"
    response = admin_client.post(text_url(pack, album), data={"description": description, "credits": credits})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/packs/{pack.id}#album-text-{album.id}")
    db.session.expire_all()
    assert album.description == "A *warm* record.\n<script>alert(1)</script>"  # stored as typed, NUL dropped
    assert album.credits == "Mixed by [Bo](https://bo.example/)" and album.text_updated_at is not None
    last = audit_rows()[-1]
    assert last.action == "album.text" and last.target == f"album:{album.id}"
    assert last.details == {"fields": ["description", "credits"], "description_length": [0, len(album.description)],
                            "credits_length": [0, len(credits)]}
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert "A <em>warm</em> record." in page and "<script>alert(1)" not in page and "&lt;script&gt;" in page
    # The same text again: nothing changes, nothing is audited as a change.
    again = admin_client.post(text_url(pack, album), data={"description": album.description, "credits": album.credits})
    assert again.status_code == 303 and audit_rows()[-1].action == "album_text_save.attempt"


def test_too_long_or_missing_text_is_refused_and_nothing_saved(app, admin_client, pack):
    album = first_album(pack)
    too_long = "x" * (LIMITS["description"] + 1)
    response = admin_client.post(text_url(pack, album), data={"description": too_long, "credits": "Fine"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    limit = LIMITS["description"]
    assert f"The description is {limit + 1:,} characters long; at most {limit:,} are allowed." in html
    assert 'aria-invalid="true"' in html and "Nothing was saved" in html
    assert too_long in html  # the text comes back to fix, not lost
    missing = admin_client.post(text_url(pack, album), data={"description": "Only this"})
    assert missing.status_code == 400 and "The credits are missing from the form." in missing.get_data(as_text=True)
    db.session.expire_all()
    assert album.description == "" and album.credits == "" and album.text_updated_at is None
    assert audit_rows()[-1].action == "album_text_save.attempt"


def test_an_album_of_another_pack_or_a_foreign_track_is_not_found(app, admin_client, pack):
    other = factories.make_pack(app, slug="other-pack")
    foreign_album = first_album(other)
    assert admin_client.post(text_url(pack, foreign_album), data={"description": "x", "credits": ""}).status_code == 404
    assert admin_client.get(text_url(pack, foreign_album)).status_code == 404
    album = first_album(pack)
    foreign_track = foreign_album.tracks[0]
    assert admin_client.post(lyrics_url(pack, album, foreign_track), data={"lyrics": "x"}).status_code == 404
    db.session.expire_all()
    assert foreign_album.description == "" and foreign_track.lyrics == ""


def test_saving_and_removing_lyrics(app, admin_client, client, pack):
    album = first_album(pack)
    track = album.tracks[0]
    lyrics = "Line one\r\nLine <b onclick=x()>two</b>"
    saved = admin_client.post(lyrics_url(pack, album, track), data={"lyrics": lyrics})
    assert saved.status_code == 303
    db.session.expire_all()
    assert track.lyrics == "Line one\nLine <b onclick=x()>two</b>"
    last = audit_rows()[-1]
    assert (last.action, last.target, last.details) == ("track.lyrics", f"track:{track.id}",
                                                        {"album": album.id, "length": [0, len(track.lyrics)]})
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    shown = page.split('lyrics-text">')[1].split("</div>")[0]
    assert "Line one<br" in shown and "Line &lt;b onclick=x()&gt;two&lt;/b&gt;" in shown  # text, not a tag
    removed = admin_client.post(lyrics_url(pack, album, track), data={"lyrics": "  "})
    assert removed.status_code == 303
    db.session.expire_all()
    assert track.lyrics == ""
    assert '<details class="lyrics">' not in client.get(f"/packs/{pack.slug}").get_data(as_text=True)


def test_too_long_or_missing_lyrics_are_refused(app, admin_client, pack):
    album = first_album(pack)
    track = album.tracks[1]
    response = admin_client.post(lyrics_url(pack, album, track), data={"lyrics": "y" * (LIMITS["lyrics"] + 1)})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f"The lyrics of {escape(track.title)} are {LIMITS['lyrics'] + 1:,} characters long" in html
    assert f'id="lyrics-{track.id}-error"' in html and "<details class=\"lyrics-forms\" open>" in html
    assert admin_client.post(lyrics_url(pack, album, track), data={}).status_code == 400
    db.session.expire_all()
    assert track.lyrics == "" and album.text_updated_at is None


@pytest.fixture
def csrf_app(app_config):
    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})

    @app.before_request
    def forget_per_request_caches() -> None:
        # One app context spans the test's requests: drop what Flask-WTF and Flask-Login keep on g.
        g.pop("csrf_token", None)
        g.pop("_login_user", None)

    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_a_post_without_the_csrf_token_is_refused(csrf_app: Flask):
    operators.create("ops@example.com", PASSWORD)
    pack = factories.make_pack(csrf_app)
    album = first_album(pack)
    client = csrf_app.test_client()
    login_page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)  # type: ignore[union-attr]
    assert client.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD,
                                             "csrf_token": token}).status_code == 302
    refused = client.post(text_url(pack, album), data={"description": "Sneaky", "credits": ""})
    assert refused.status_code == 400 and b"form has expired" in refused.data
    refused = client.post(lyrics_url(pack, album, album.tracks[0]), data={"lyrics": "Sneaky"})
    assert refused.status_code == 400
    # With the page's token it goes through.
    page = client.get(f"/admin/packs/{pack.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    accepted = client.post(text_url(pack, album), data={"description": "Honest", "credits": "", "csrf_token": token})
    assert accepted.status_code == 303, accepted.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Album, album.id).description == "Honest"  # type: ignore[union-attr]
