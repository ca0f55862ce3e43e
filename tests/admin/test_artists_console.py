"""The console's artist pages: list, edit, statements and their CSV, statement links, merge or
keep apart a new spelling; and the pack's shares."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from shop.artists import Artist, StatementLink, artist_named
from shop.extensions import db
from shop.ledger.models import EntryKind
from shop.models import Album
from tests import factories
from tests.admin.conftest import audit_rows
from tests.ledger_rows import post, sale

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

NOVEMBER = datetime(2026, 11, 10, tzinfo=UTC)


def _artists(pack) -> list[Artist]:
    return [a.artist_record for a in sorted(pack.albums, key=lambda a: a.position)]


def _edit(artist: Artist, **changes: str) -> dict[str, str]:
    form = {"name": artist.name, "email": artist.email or "", "bio": artist.bio, "links": artist.links_text,
            "payout_method": artist.payout_method}
    form.update(changes)
    return form


def _twin(pack, name: str = "The Quiet Fîres") -> Artist:
    """A second spelling of the first album's artist, with an album of its own."""
    twin = artist_named(db.session(), name)
    pack.albums.append(Album(position=9, artist=name, title="Second Spelling", genre="rock", artist_record=twin))
    db.session.commit()
    return twin


def test_the_list_shows_albums_packs_what_each_is_owed_and_duplicates(admin_client, pack):
    first, second = _artists(pack)
    sale(first, 1234, fee=34)
    sale(first, 500, currency="EUR")
    twin = _twin(pack)
    page = admin_client.get("/admin/artists").data.decode()
    row = re.search(rf'data-artist="{first.id}">(.*?)</tr>', page, re.S).group(1)
    assert first.name in row and pack.title in row
    assert "€5.00" in row and "$12.00" in row
    other = re.search(rf'data-artist="{second.id}">(.*?)</tr>', page, re.S).group(1)
    assert '<td class="owed">–</td>' in other
    assert twin.same_as_id == first.id
    assert f"Merge into {first.name}" in page and "possible duplicate" in page


def test_an_edit_is_saved_and_audited(admin_client, pack):
    artist = _artists(pack)[0]
    response = admin_client.post(f"/admin/artists/{artist.id}", data=_edit(
        artist, email="Fires@Example.com", bio="From the coast.", payout_method="stripe",
        links="https://fires.example\n\nhttp://bandcamp.example/fires"))
    assert response.status_code == 303
    db.session.expire_all()
    assert artist.email == "fires@example.com" and artist.payout_method == "stripe"
    assert artist.links == ("https://fires.example", "http://bandcamp.example/fires")
    event = audit_rows()[-1]
    assert event.action == "artist.edit" and event.target == f"artist:{artist.id}"
    assert set(event.details) == {"email", "bio", "links", "payout_method"}


HOSTILE_EDITS = [
    ("links", "javascript:alert(1)", "not a web address"),
    ("links", "https://ok.example\ndata:text/html,hi", "not a web address"),
    ("links", "https://evil.example/a b", "space"),
    ("links", "\n".join(f"https://x{i}.example" for i in range(6)), "At most 5 links"),
    ("links", "https://x.example/" + "a" * 600, "longer than 500"),
    ("links", "//no-scheme.example", "not a web address"),
    ("name", "", "required"),
    ("name", "n" * 201, "longer than 200"),
    ("name", "Björk Ørsted", "Another artist has exactly this name"),
    ("email", "not-an-address", "valid e-mail"),
    ("email", "a" * 300 + "@example.com", "valid e-mail"),
    ("bio", "b" * 2001, "longer than 2000"),
    ("payout_method", "cash", "Choose how the artist is paid"),
]


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE_EDITS,
                         ids=[f"{field}-{number}" for number, (field, _, _) in enumerate(HOSTILE_EDITS)])
def test_a_hostile_edit_is_refused_with_a_clear_message_and_changes_nothing(admin_client, pack, field, value, message):
    artist = _artists(pack)[0]
    before = (artist.name, artist.email, artist.bio, artist.links_text, artist.payout_method)
    response = admin_client.post(f"/admin/artists/{artist.id}", data=_edit(artist, **{field: value}))
    assert response.status_code == 400
    assert message in response.data.decode()
    db.session.expire_all()
    assert (artist.name, artist.email, artist.bio, artist.links_text, artist.payout_method) == before


def test_wrong_ids_are_404(admin_client, pack):
    first, second = _artists(pack)
    link = StatementLink(artist_id=second.id, token_hash="x" * 64)
    db.session.add(link)
    db.session.commit()
    assert admin_client.get("/admin/artists/999999").status_code == 404
    assert admin_client.post("/admin/artists/999999", data=_edit(first)).status_code == 404
    assert admin_client.get("/admin/artists/99999999999/statement.csv?month=2026-11").status_code == 404
    # Another artist's link is not this artist's to revoke.
    assert admin_client.post(f"/admin/artists/{first.id}/links/{link.id}/revoke").status_code == 404
    db.session.expire_all()
    assert link.revoked_at is None


def test_the_page_shows_the_chosen_months_statement(admin_client, pack):
    artist = _artists(pack)[0]
    sale(artist, 1000, fee=50, at=NOVEMBER)
    post(EntryKind.REFUND, {artist: -100}, at=datetime(2026, 12, 1, tzinfo=UTC))
    page = admin_client.get(f"/admin/artists/{artist.id}?month=2026-11").data.decode()
    row = re.search(r'id="statement-table".*?data-currency="USD">(.*?)</tr>', page, re.S).group(1)
    assert "$10.00" in row and "$0.50" in row and "$9.50" in row
    assert "2026-11" in page and "2026-12" in page  # the months with entries, to pick from
    assert 'include "admin/_artist_payouts.html"' not in page


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "1969-12", "x", "2026-1", "2026-11-01", "<script>"])
def test_a_wrong_month_is_a_400_with_a_clear_message(admin_client, pack, month):
    artist = _artists(pack)[0]
    for url in (f"/admin/artists/{artist.id}?month={month}", f"/admin/artists/{artist.id}/statement.csv?month={month}"):
        response = admin_client.get(url)
        assert response.status_code == 400
        assert "YYYY-MM" in response.data.decode() and "<script>" not in response.data.decode()


def test_the_statement_csv_has_one_row_per_currency_and_is_injection_safe(admin_client, pack):
    artist = _artists(pack)[0]
    artist.name = '=HYPERLINK("http://evil.example","x")'
    db.session.commit()
    sale(artist, 1000, fee=50, at=NOVEMBER)
    sale(artist, 300, currency="JPY", at=NOVEMBER)
    post(EntryKind.PAYOUT, {artist: -2000}, at=NOVEMBER)
    response = admin_client.get(f"/admin/artists/{artist.id}/statement.csv?month=2026-11")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert [r["currency"] for r in rows] == ["JPY", "USD"]
    usd = rows[1]
    assert (usd["gross"], usd["fees"], usd["net"], usd["paid_out"], usd["balance_carried"]) == (
        "10.00", "0.50", "9.50", "20.00", "-10.50")
    assert rows[0]["gross"] == "300"
    assert all(r["artist"].startswith("'=") for r in rows)
    assert audit_rows()[-1].action == "artist.statement_csv"
    assert admin_client.get(f"/admin/artists/{artist.id}/statement.csv").status_code == 400


def test_a_new_statement_link_is_shown_once_and_can_be_revoked(admin_client, client, pack):
    artist = _artists(pack)[0]
    page = admin_client.post(f"/admin/artists/{artist.id}/links").data.decode()
    url = re.search(r"http://shop\.test(/statements/[A-Za-z0-9_-]{43})", page).group(1)
    assert client.get(url).status_code == 200
    assert url not in admin_client.get(f"/admin/artists/{artist.id}").data.decode()
    [link] = db.session.scalars(db.select(StatementLink)).all()
    assert admin_client.post(f"/admin/artists/{artist.id}/links/{link.id}/revoke").status_code == 303
    assert client.get(url).status_code == 404
    assert [e.action for e in audit_rows()][-2:] == ["artist.statement_link", "artist.statement_link_revoke"]


def test_merge_moves_the_albums_to_the_known_artist(admin_client, pack):
    first = _artists(pack)[0]
    twin = _twin(pack)
    twin_id = twin.id
    response = admin_client.post(f"/admin/artists/{twin_id}/merge")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/admin/artists/{first.id}")
    db.session.expire_all()
    assert db.session.get(Artist, twin_id) is None
    album = db.session.scalar(db.select(Album).where(Album.title == "Second Spelling"))
    assert album.artist_id == first.id and album.artist == "The Quiet Fîres"  # the tagged name stays
    event = audit_rows()[-1]
    assert event.action == "artist.merge" and event.details["merged"] == twin_id


def test_merge_is_refused_when_the_duplicate_has_ledger_entries(admin_client, pack):
    twin = _twin(pack)
    sale(twin, 100)
    response = admin_client.post(f"/admin/artists/{twin.id}/merge", follow_redirects=True)
    assert "Not merged" in response.data.decode() and "never rewritten" in response.data.decode()
    db.session.expire_all()
    assert db.session.get(Artist, twin.id) is not None


def test_merge_of_an_artist_not_flagged_is_refused(admin_client, pack):
    first, second = _artists(pack)
    response = admin_client.post(f"/admin/artists/{second.id}/merge", follow_redirects=True)
    assert "not marked as a possible duplicate" in response.data.decode()
    assert db.session.get(Artist, second.id) is not None


def test_keep_apart_clears_the_mark(admin_client, pack):
    twin = _twin(pack)
    assert admin_client.post(f"/admin/artists/{twin.id}/keep-apart").status_code == 303
    db.session.expire_all()
    assert twin.same_as_id is None
    assert audit_rows()[-1].action == "artist.keep_apart"
    assert "Merge into" not in admin_client.get("/admin/artists").data.decode()


# The pack's shares -----------------------------------------------------------------------------


@pytest.fixture
def scheduled_pack(app):
    return factories.make_pack(app, slug="later-pack", starts_in=timedelta(days=3))


def _weights(pack, *weights: object) -> dict[str, object]:
    albums = sorted(pack.albums, key=lambda a: a.position)
    return {"mode": "weights", **{f"weight-{a.id}": w for a, w in zip(albums, weights, strict=True)}}


def _saved(pack) -> list[int]:
    db.session.expire_all()
    return [a.share_weight for a in sorted(pack.albums, key=lambda a: a.position)]


def test_shares_by_weight_then_equal(admin_client, scheduled_pack):
    page = admin_client.get(f"/admin/packs/{scheduled_pack.id}").data.decode()
    assert 'id="shares"' in page and "Equally per album" in page
    assert admin_client.post(f"/admin/packs/{scheduled_pack.id}/shares", data=_weights(scheduled_pack, 3, 1)
                             ).status_code == 303
    assert _saved(scheduled_pack) == [3, 1]
    assert audit_rows()[-1].action == "pack.shares"
    assert "75.0 %" in admin_client.get(f"/admin/packs/{scheduled_pack.id}").data.decode()
    admin_client.post(f"/admin/packs/{scheduled_pack.id}/shares", data={"mode": "equal"})
    assert _saved(scheduled_pack) == [1, 1]


@pytest.mark.parametrize("weights", [(0, 0), (-1, 2), (1001, 1), ("99999999999999999999999", 1), ("1.5", 1),
                                     ("1e3", 1), ("", 1), ("٣", 1), ("0x10", 1)])
def test_hostile_weights_are_refused(admin_client, scheduled_pack, weights):
    response = admin_client.post(f"/admin/packs/{scheduled_pack.id}/shares", data=_weights(scheduled_pack, *weights),
                                 follow_redirects=True)
    assert "Shares not saved" in response.data.decode()
    assert _saved(scheduled_pack) == [1, 1]


def test_shares_need_a_mode_and_a_real_pack(admin_client, scheduled_pack):
    response = admin_client.post(f"/admin/packs/{scheduled_pack.id}/shares", data={"mode": "random"},
                                 follow_redirects=True)
    assert "Shares not saved" in response.data.decode()
    assert admin_client.post("/admin/packs/999999/shares", data={"mode": "equal"}).status_code == 404


def test_shares_cannot_change_once_the_pack_is_on_sale(admin_client, pack):
    response = admin_client.post(f"/admin/packs/{pack.id}/shares", data=_weights(pack, 5, 1), follow_redirects=True)
    assert "the shares can no longer change: the pack is on sale" in response.data.decode()
    assert _saved(pack) == [1, 1]


def test_a_console_upload_of_a_new_spelling_is_shown_for_the_operator_to_confirm(app, admin_client, pack,
                                                                                  scheduled_pack, tmp_path):
    from tests.admin.test_packs import album_files, upload
    from tests.catalog.audio import write_album

    known = _artists(pack)[0]
    folder = write_album(tmp_path / "upload", "the quiet  FIRES", "Low Tide", ["Gulls"], seconds=0.5)
    response = upload(admin_client, scheduled_pack.id, album_files(folder))
    assert response.status_code == 200, response.data
    assert any("spelled like 'The Quiet Fires'" in note for note in response.get_json()["notes"])
    db.session.expire_all()
    album = db.session.scalar(db.select(Album).where(Album.title == "Low Tide"))
    assert album.artist_record.name == "the quiet  FIRES" and album.artist_record.same_as_id == known.id
    page = admin_client.get(f"/admin/packs/{scheduled_pack.id}").data.decode()
    assert "may be the same artist as The Quiet Fires" in page
    assert admin_client.post(f"/admin/artists/{album.artist_id}/merge").status_code == 303
    db.session.expire_all()
    assert album.artist_id == known.id and "may be the same artist" not in admin_client.get(
        f"/admin/packs/{scheduled_pack.id}").data.decode()
