"""Add to Dropbox again: a click just after the same delivery finished shows that delivery
("Delivered 2 minutes ago") with a Send again button, whose POST (``again=1``) delivers once
more, for a buyer who deleted the files and wants them back.

The delivery job runs in this process against the emulator over HTTP, as in ``test_delivery.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from shop.dropbox.jobs import Deliverer
from shop.dropbox.models import Delivery
from shop.extensions import db
from shop.models import utcnow
from tests.dropbox.conftest import click, fresh
from tests.dropbox.test_delivery import buyer_files, expected_files, run
from tests.dropbox.test_half_delivered import buyer_dbx


def deliveries() -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


def finished_ago(delivery: Delivery, minutes: float) -> None:
    delivery.finished_at = utcnow() - timedelta(minutes=minutes)
    db.session.commit()


def send_again_form(page: str, delivery_id: int) -> tuple[str, dict[str, str]]:
    """The Send again form inside the delivery's box: its action and fields."""
    box = page.split(f'id="delivery-{delivery_id}"', 1)[1].split('<div class="delivery"', 1)[0]
    form = re.search(r'<form class="send-again" method="post" action="([^"]+)">(.*?)</form>', box, re.S)
    assert form, "no Send again button"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    return form.group(1), fields


def test_a_click_right_after_a_delivery_shows_it_and_send_again_brings_deleted_files_back(
        client, dropbox_buyer, seeded_pack, emulator_server):
    order, token = dropbox_buyer
    album = seeded_pack.albums[0]
    url = f"/orders/{token}/dropbox/albums/{album.id}"
    assert client.post(url, data={"format": "mp3-v0"}).status_code == 303
    first = run(deliveries()[0])
    assert first.status == "done"
    files = expected_files(first)
    dbx = buyer_dbx(emulator_server)
    for path in files:  # the buyer deletes what was delivered and wants it back
        dbx.files_delete_v2(path)
    assert not files.keys() & buyer_files(emulator_server[1]).keys()
    finished_ago(first, 2)

    repeat = client.post(url, data={"format": "mp3-v0"})
    assert repeat.status_code == 303 and repeat.headers["Location"].endswith(f"#delivery-{first.id}")
    assert len(deliveries()) == 1  # not silently delivered again, not silently "done" either:
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert "Delivered 2 minutes ago." in page
    action, fields = send_again_form(page, first.id)
    assert action == url and fields["format"] == "mp3-v0" and fields["again"] == "1" and "csrf_token" in fields

    sent = client.post(action, data=fields)
    assert sent.status_code == 303
    second = deliveries()[-1]
    assert second.id != first.id and sent.headers["Location"].endswith(f"#delivery-{second.id}")
    assert run(second).status == "done"
    assert files.items() <= buyer_files(emulator_server[1]).items()


def test_json_clients_get_the_recent_delivery_with_when_and_can_send_again(client, dropbox_buyer, seeded_pack):
    order, token = dropbox_buyer
    url = f"/orders/{token}/dropbox/pack"
    json = {"Accept": "application/json"}
    first = client.post(url, data={"format": "mp3-v0"}, headers=json)
    assert first.status_code == 202
    delivery = run(deliveries()[0])
    finished_ago(delivery, 3)
    repeat = client.post(url, data={"format": "mp3-v0"}, headers=json)
    assert repeat.status_code == 200 and repeat.json["id"] == delivery.id
    assert repeat.json["finished_ago"] == "3 minutes ago" and repeat.json["send_again"] is True
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert send_again_form(page, delivery.id)[0] == url
    again = client.post(url, data={"format": "mp3-v0", "again": "1"}, headers=json)
    assert again.status_code == 202 and again.json["id"] != delivery.id and again.json["status"] == "queued"
    # While that one is under way, another "again" gets it, not a third delivery.
    assert client.post(url, data={"format": "mp3-v0", "again": "1"}, headers=json).json["id"] == again.json["id"]
    assert len(deliveries()) == 2


def test_after_the_window_a_click_delivers_again(client, dropbox_buyer, seeded_pack):
    order, token = dropbox_buyer
    album = seeded_pack.albums[1]
    url = f"/orders/{token}/dropbox/albums/{album.id}"
    client.post(url, data={"format": "mp3-v0"})
    delivery = run(deliveries()[0])
    finished_ago(delivery, 61)
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    # The done state keeps a Send again button, without "again": after the window a click
    # delivers again by itself.
    assert "Delivered 1 hour ago." in page
    action, fields = send_again_form(page, delivery.id)
    assert action == url and "again" not in fields
    assert client.post(action, data=fields).status_code == 303
    assert len(deliveries()) == 2


def test_a_bad_again_value_is_a_400_and_changes_nothing(client, dropbox_buyer, seeded_pack):
    order, token = dropbox_buyer
    response = client.post(f"/orders/{token}/dropbox/pack", data={"format": "mp3-v0", "again": "yes please"})
    assert response.status_code == 400 and b"Send again" in response.data
    assert db.session.scalar(select(func.count(Delivery.id))) == 0


def test_send_again_with_a_real_worker(client, dropbox_buyer, seeded_pack, emulator_server, start_worker):
    """The whole round with an RQ worker process: deliver, delete, click (shown, not redone),
    Send again (delivered again), each file in the buyer's Dropbox once."""
    order, token = dropbox_buyer
    album = seeded_pack.albums[0]
    url = f"/orders/{token}/dropbox/albums/{album.id}"
    assert client.post(url, data={"format": "mp3-v0"}).status_code == 303
    assert start_worker(burst=True).wait(timeout=60) == 0
    first = deliveries()[0]
    assert first.status == "done"
    files = expected_files(first)
    dbx = buyer_dbx(emulator_server)
    for path in files:
        dbx.files_delete_v2(path)

    assert client.post(url, data={"format": "mp3-v0"}).headers["Location"].endswith(f"#delivery-{first.id}")
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert re.search(r"Delivered (just now|[1-4] minutes? ago)\.", page)
    action, fields = send_again_form(page, first.id)
    assert client.post(action, data=fields).status_code == 303
    assert start_worker(burst=True).wait(timeout=60) == 0
    second = deliveries()[-1]
    assert second.id != first.id and second.status == "done"
    assert buyer_files(emulator_server[1]) == files  # every file back, once


# --- Repeated clicks (security review L10) --------------------------------------------------------


def test_a_click_after_a_recent_done_delivery_returns_it_instead_of_delivering_again(client, dropbox_buyer,
                                                                                    seeded_pack):
    order, token = dropbox_buyer
    album_id = str(seeded_pack.albums[0].id)
    first = click(client, token, album_id)
    assert first.status_code == 202
    delivery = fresh(first.json["id"])
    Deliverer(delivery.id, sleep=lambda s: None).run()
    assert fresh(delivery.id).status == "done"
    again = click(client, token, album_id)
    assert again.status_code == 200 and again.json["id"] == delivery.id and again.json["status"] == "done"
    assert db.session.query(Delivery).count() == 1
    # Another format is another delivery.
    assert click(client, token, album_id, "wav").status_code == 202


def test_add_to_dropbox_is_rate_limited_per_order(client, app, dropbox_buyer, seeded_pack, emulator):
    from tests import factories
    from tests.dropbox.conftest import connect_buyer

    order, token = dropbox_buyer
    album_id = str(seeded_pack.albums[0].id)
    statuses = [click(client, token, album_id).status_code for _ in range(20)]
    assert statuses[0] == 202 and set(statuses[1:]) == {200}
    refused = click(client, token, album_id)
    assert refused.status_code == 429
    assert db.session.query(Delivery).count() == 1
    # Another order has its own allowance.
    other, other_token = factories.make_order(app, seeded_pack, email="other@example.com")
    connect_buyer(other, emulator, "other@example.com")
    assert click(client, other_token, album_id).status_code == 202
