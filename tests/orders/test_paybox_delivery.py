"""The bonus album reaches only the orders that beat the average: the order page, the single
files, the album and pack zips (each with its exact announced length, resumable) and Add to
Dropbox."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.dropbox.deliveries import create_delivery
from shop.dropbox.models import PACK_TARGET, delivery_target
from shop.extensions import db
from shop.models import Order, Pack
from tests import factories
from tests.downloads.conftest import album_url, pack_url, track_url


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # The order page shows Add to Dropbox only when the app is configured for Dropbox.
    return {"DROPBOX_APP_KEY": "key", "DROPBOX_APP_SECRET": "secret"}


@pytest.fixture
def bonus_pack_in_two_formats(app: Flask) -> Pack:
    """The factory pack in FLAC and MP3 V0, the second album the bonus (not test_paybox.py's priced one)."""
    pack = factories.make_pack(app, slug="bonus-pack", formats=("flac", "mp3-v0"))
    pack.albums[1].is_bonus = True
    db.session.commit()
    return pack


@pytest.fixture(params=["unlocked", "locked"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def order_of(app: Flask, pack: Pack, unlocked: bool) -> tuple[Order, str]:
    order, token = factories.make_order(app, pack, email=f"{'yes' if unlocked else 'no'}@example.com",
                                        amount_cents=2500 if unlocked else 600)
    order.bonus_unlocked = unlocked
    order.bonus_threshold_cents = 1200
    db.session.commit()
    return order, token


def zip_folders(data: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name.split("/")[0] for name in archive.namelist()}


def test_the_order_page_shows_the_bonus_album_only_when_unlocked(app: Flask, client: FlaskClient,
                                                                  bonus_pack_in_two_formats: Pack) -> None:
    bonus, regular = bonus_pack_in_two_formats.albums[1], bonus_pack_in_two_formats.albums[0]
    _, yes = order_of(app, bonus_pack_in_two_formats, True)
    _, no = order_of(app, bonus_pack_in_two_formats, False)
    unlocked = client.get(f"/orders/{yes}?format=flac").get_data(as_text=True)
    locked = client.get(f"/orders/{no}?format=flac").get_data(as_text=True)
    for page in (unlocked, locked):
        assert f'id="album-{regular.id}"' in page
    assert f'id="album-{bonus.id}"' in unlocked and "Bonus album" in unlocked and "You beat the average" in unlocked
    assert f'id="album-{bonus.id}"' not in locked and "You beat the average" not in locked
    assert f"/dropbox/albums/{bonus.id}" in unlocked and f"/dropbox/albums/{bonus.id}" not in locked
    assert album_url(no, bonus) not in locked


def test_bonus_files_download_only_for_an_unlocked_order(app: Flask, client: FlaskClient,
                                                         bonus_pack_in_two_formats: Pack) -> None:
    bonus = bonus_pack_in_two_formats.albums[1]
    _, yes = order_of(app, bonus_pack_in_two_formats, True)
    _, no = order_of(app, bonus_pack_in_two_formats, False)
    assert client.get(album_url(yes, bonus)).status_code == 200
    assert client.get(track_url(yes, bonus.tracks[0])).status_code == 200
    assert client.get(album_url(no, bonus)).status_code == 404
    assert client.get(track_url(no, bonus.tracks[0])).status_code == 404
    assert client.head(album_url(no, bonus)).status_code == 404


def test_the_pack_zip_of_each_kind_has_its_exact_length_and_resumes(app: Flask, client: FlaskClient,
                                                                    bonus_pack_in_two_formats: Pack, kind: str) -> None:
    unlocked = kind == "unlocked"
    _, token = order_of(app, bonus_pack_in_two_formats, unlocked)
    url = pack_url(token, "flac")
    head = client.head(url)
    full = client.get(url)
    data = full.data
    assert full.status_code == 200
    assert int(head.headers["Content-Length"]) == int(full.headers["Content-Length"]) == len(data)
    folders = zip_folders(data)
    bonus_folder = next(f for f in folders if "Ünïcode" in f or "Bj" in f) if unlocked else None
    assert len(folders) == (2 if unlocked else 1), folders
    assert (bonus_folder is not None) == unlocked
    # Resume from the middle (and from the last byte), as a download manager would.
    etag = head.headers["ETag"]
    for start in (len(data) // 2, len(data) - 1):
        rest = client.get(url, headers={"Range": f"bytes={start}-", "If-Range": etag})
        assert rest.status_code == 206
        assert rest.headers["Content-Range"] == f"bytes {start}-{len(data) - 1}/{len(data)}"
        assert data[:start] + rest.data == data


def test_the_album_zip_of_an_unlocked_bonus_has_its_exact_length_and_resumes(app: Flask, client: FlaskClient,
                                                                            bonus_pack_in_two_formats: Pack) -> None:
    _, token = order_of(app, bonus_pack_in_two_formats, True)
    url = album_url(token, bonus_pack_in_two_formats.albums[1])
    data = client.get(url).data
    assert int(client.head(url).headers["Content-Length"]) == len(data)
    rest = client.get(url, headers={"Range": "bytes=100-"})
    assert rest.status_code == 206 and data[:100] + rest.data == data


def test_add_to_dropbox_carries_the_bonus_album_only_when_unlocked(app: Flask, client: FlaskClient,
                                                                   bonus_pack_in_two_formats: Pack) -> None:
    bonus = bonus_pack_in_two_formats.albums[1]
    yes_order, _ = order_of(app, bonus_pack_in_two_formats, True)
    no_order, no = order_of(app, bonus_pack_in_two_formats, False)
    unlocked, _ = create_delivery(yes_order, PACK_TARGET, "flac")
    locked, _ = create_delivery(no_order, PACK_TARGET, "flac")
    assert {f.album_id for f in unlocked.files} == {a.id for a in bonus_pack_in_two_formats.albums}
    assert {f.album_id for f in locked.files} == {bonus_pack_in_two_formats.albums[0].id}
    assert len(locked.files) == len(bonus_pack_in_two_formats.albums[0].tracks)
    # The bonus album alone: a 404 before anything else (no Dropbox connection asked for).
    refused = client.post(f"/orders/{no}/dropbox/albums/{bonus.id}", data={"format": "flac"})
    assert refused.status_code == 404
    delivery, created = create_delivery(yes_order, delivery_target(bonus.id), "flac")
    assert created and {f.album_id for f in delivery.files} == {bonus.id}
