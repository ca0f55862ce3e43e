"""Deliveries through Redis and real worker processes: crashes, outages, double clicks, two workers."""

from __future__ import annotations

import time

import redis
from sqlalchemy import select

from shop.dropbox.models import Delivery
from shop.extensions import db
from tests.dropbox.conftest import APP_KEY, BUYER_EMAIL, per_file_only
from tests.services import RedisServer, wait_until


def delivery_status(delivery_id: int) -> Delivery:
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery_id)
    db.session.commit()  # end the read transaction so workers can write (SQLite)
    return delivery


def done_count(delivery_id: int) -> int:
    return sum(1 for f in delivery_status(delivery_id).files if f.status == "done")


def assert_each_file_exactly_once(emulator, delivery: Delivery) -> None:
    files = emulator.list_files(BUYER_EMAIL, APP_KEY)
    by_path = {f["path_display"]: f["content_hash"] for f in files}
    for file in delivery.files:
        assert by_path[file.path] == file.track_file.dropbox_content_hash
    # No "(2)" copies: every file is in the buyer's Dropbox once.
    assert len(files) == len(delivery.files)


def click(client, token, album_id, fmt="mp3-v0", **kw):
    return client.post(f"/orders/{token}/dropbox/albums/{album_id}", data={"format": fmt},
                       headers={"Accept": "application/json"}, **kw)


def test_click_then_worker_delivers_and_progress_endpoint_reports_it(client, buyer, seeded_pack, emulator,
                                                                     start_worker):
    order, token = buyer
    album = seeded_pack.albums[0]
    response = click(client, token, album.id)
    assert response.status_code == 202
    delivery_id = response.json["id"]
    again = click(client, token, album.id)  # the double click
    assert again.status_code == 200 and again.json["id"] == delivery_id

    worker = start_worker(burst=True)
    assert worker.wait(timeout=60) == 0
    status = client.get(f"/orders/{token}/dropbox/deliveries/{delivery_id}").json
    assert status["status"] == "done"
    assert status["done"] == status["total"] == 3
    assert [f["status"] for f in status["files"]] == ["done"] * 3
    assert status["folders"] == ["/The Quiet Fires - Ember Line (MP3 V0)"]
    assert_each_file_exactly_once(emulator, delivery_status(delivery_id))

    page = client.get(f"/orders/{token}").data.decode()
    assert '<strong class="state-done">In your Dropbox</strong>' in page and "3 MP3 V0 files in" in page
    assert "connected as <strong>b•••@example.com</strong>" in page  # the account, e-mail masked


def test_worker_killed_mid_delivery_resumes_and_finishes_each_file_once(client, buyer, seeded_pack, emulator,
                                                                         start_worker):
    order, token = buyer
    album = seeded_pack.albums[2]  # four tracks
    # A folder already there and no folder references send the job file by file, and latency
    # makes it slow enough to kill.
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/Mono Lake - Salt Flats (MP3 V0)/notes.txt", b"mine")
    per_file_only()
    emulator.set_latency(400, route="files/copy_reference/save")
    delivery_id = click(client, token, album.id).json["id"]

    first = start_worker()
    assert wait_until(lambda: done_count(delivery_id) >= 1, timeout=60)
    first.kill()
    killed_at = time.monotonic()
    assert delivery_status(delivery_id).status == "running"
    assert done_count(delivery_id) < 4

    emulator.set_latency(0, route="files/copy_reference/save")
    start_worker()
    assert wait_until(lambda: delivery_status(delivery_id).status == "done", timeout=120)
    assert time.monotonic() - killed_at < 120
    delivery = delivery_status(delivery_id)
    assert delivery.attempts >= 2
    files = [f for f in emulator.list_files(BUYER_EMAIL, APP_KEY) if not f["path_display"].endswith(".txt")]
    assert sorted(f["path_display"] for f in files) == sorted(f.path for f in delivery.files)


def test_two_workers_never_deliver_the_same_file_twice(client, buyer, seeded_pack, emulator, start_worker, app):
    order, token = buyer
    emulator.set_latency(50)
    ids = [click(client, token, album.id, fmt).json["id"]
           for album in seeded_pack.albums for fmt in ("mp3-v0", "flac")]
    # The same job ids enqueued again, as a sweep racing a click would.
    from shop.dropbox.deliveries import enqueue_delivery

    for delivery_id in ids:
        enqueue_delivery(delivery_status(delivery_id))
    start_worker()
    start_worker()
    assert wait_until(lambda: all(delivery_status(i).status == "done" for i in ids), timeout=120)
    files = emulator.list_files(BUYER_EMAIL, APP_KEY)
    paths = [f["path_display"] for f in files]
    assert len(paths) == len(set(paths)) == sum(len(delivery_status(i).files) for i in ids)
    assert not any(" (2)." in p for p in paths)


def test_redis_down_on_click_waits_in_the_database_and_runs_when_it_is_back(app, client, buyer, seeded_pack,
                                                                            emulator, start_worker):
    order, token = buyer
    album = seeded_pack.albums[0]
    outage = RedisServer().start()
    outage.stop()  # a port where Redis used to be
    good_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = outage.url
    app.extensions.pop("shop.redis", None)

    response = click(client, token, album.id)
    assert response.status_code == 503
    assert "try again shortly" in response.json["error"]
    delivery = db.session.scalar(select(Delivery))
    assert delivery.status == "queued" and delivery.enqueued_at is None
    html = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "mp3-v0"})
    assert html.status_code == 503 and b"Try again shortly" in html.data
    assert db.session.query(Delivery).count() == 1

    # Redis is back: a worker's start-up sweep enqueues what waited, and delivers it.
    app.config["REDIS_URL"] = good_url
    app.extensions.pop("shop.redis", None)
    redis.Redis.from_url(good_url).ping()
    worker = start_worker(burst=True)
    assert worker.wait(timeout=60) == 0
    assert delivery_status(delivery.id).status == "done"
    assert_each_file_exactly_once(emulator, delivery_status(delivery.id))


def test_deliveries_of_another_order_are_not_visible(client, app, buyer, seeded_pack):
    from tests import factories

    order, token = buyer
    delivery_id = click(client, token, seeded_pack.albums[0].id).json["id"]
    _, other_token = factories.make_order(app, seeded_pack, email="other@example.com")
    assert client.get(f"/orders/{other_token}/dropbox/deliveries/{delivery_id}").status_code == 404
    assert client.get(f"/orders/{token}/dropbox/deliveries/999999").status_code == 404
    assert client.get(f"/orders/{token}/dropbox/deliveries/abc").status_code == 404


def test_bad_delivery_requests(client, app, buyer, seeded_pack):
    from tests import factories

    order, token = buyer
    album = seeded_pack.albums[0]
    for fmt in ("", "ogg", "MP3 ", "../../etc", "x" * 500):
        response = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": fmt})
        assert response.status_code == 400
    assert client.post(f"/orders/{token}/dropbox/albums/999999", data={"format": "mp3-v0"}).status_code == 404
    assert client.post(f"/orders/{token}/dropbox/albums/x", data={"format": "mp3-v0"}).status_code == 404
    _, unpaid = factories.make_order(app, seeded_pack, paid=False, email="u@example.com")
    assert client.post(f"/orders/{unpaid}/dropbox/pack", data={"format": "mp3-v0"}).status_code == 404
    assert client.get(f"/orders/{token}/dropbox/albums/{album.id}").status_code == 405
    assert db.session.query(Delivery).count() == 0


def test_the_sweep_leaves_waiting_jobs_alone_and_revives_lost_ones(app, client, buyer, seeded_pack):
    from datetime import timedelta

    from shop.dropbox.deliveries import requeue_waiting
    from shop.models import utcnow
    from shop.queue import get_queue

    order, token = buyer
    delivery_id = click(client, token, seeded_pack.albums[0].id).json["id"]
    queue = get_queue()
    assert queue.count == 1
    later = utcnow() + timedelta(minutes=5)
    assert requeue_waiting(now=later) == 0  # still in line: not enqueued twice
    assert queue.count == 1

    queue.empty()  # Redis lost the job (restarted without persistence)
    assert requeue_waiting(now=later) == 1
    assert queue.job_ids == [f"delivery-{delivery_id}"]
