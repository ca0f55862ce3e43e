"""Dropbox deliveries in each of the eight formats: folders named by the format's label,
files by its extension, the same names as in the zips (``shop.catalog.layout``)."""

from __future__ import annotations

import pytest

from shop.dropbox.deliveries import create_delivery
from shop.dropbox.jobs import Deliverer
from shop.dropbox.models import Delivery
from shop.extensions import db
from shop.formats import FORMATS, get_format
from tests.dropbox.conftest import APP_KEY, BUYER_EMAIL

pytestmark = pytest.mark.seed_formats(*(fmt.id for fmt in FORMATS))


def run(delivery: Delivery) -> Delivery:
    Deliverer(delivery.id, sleep=lambda seconds: None).run()
    db.session.expire_all()
    return db.session.get(Delivery, delivery.id)


def test_an_album_and_the_pack_are_delivered_in_every_format(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[0]
    for fmt in FORMATS:
        label, extension = fmt.label, fmt.extension
        delivery, created = create_delivery(order, f"album:{album.id}", fmt.id)
        assert created
        delivery = run(delivery)
        assert delivery.status == "done", (fmt.id, delivery.error)
        folder = f"/The Quiet Fires - Ember Line ({label})"
        assert [f.path for f in delivery.files] == [
            f"{folder}/01 Kindling.{extension}", f"{folder}/02 Smoke Signals.{extension}",
            f"{folder}/03 Ash.{extension}",
        ]
        assert {f.track_file.format for f in delivery.files} == {fmt.id}
    files = {f["path_display"]: f["content_hash"] for f in emulator.list_files(BUYER_EMAIL, APP_KEY)}
    assert len(files) == 3 * len(FORMATS)  # MP3 V0 and MP3 320 share .mp3, but never a folder


@pytest.mark.parametrize("fmt", ["opus", "aiff"])
def test_the_whole_pack_in_a_new_format(dropbox_buyer, seeded_pack, emulator, fmt):
    order, _ = dropbox_buyer
    delivery, _ = create_delivery(order, "pack", fmt)
    delivery = run(delivery)
    assert delivery.status == "done", delivery.error
    label = get_format(fmt).label
    assert {f.path.split("/")[1] for f in delivery.files} == {
        f"{a.artist} - {a.title} ({label})".replace("/", "_") for a in seeded_pack.albums
    }
    assert all(f.path.endswith(f".{get_format(fmt).extension}") for f in delivery.files)


def test_the_dropbox_form_takes_the_old_mp3_id_and_names_the_formats_when_refusing(client, dropbox_buyer, seeded_pack):
    order, token = dropbox_buyer
    album = seeded_pack.albums[0]
    url = f"/orders/{token}/dropbox/albums/{album.id}"
    refused = client.post(url, data={"format": "ogg"}, headers={"Accept": "application/json"})
    assert refused.status_code == 400
    assert "MP3 V0, MP3 320, AAC, Opus, FLAC, ALAC, WAV, AIFF" in refused.get_data(as_text=True)
    started = client.post(url, data={"format": "mp3"}, headers={"Accept": "application/json"})
    assert started.status_code in (200, 202), started.get_data(as_text=True)
    [delivery] = db.session.query(Delivery).filter_by(order_id=order.id).all()
    assert delivery.format == "mp3-v0"
