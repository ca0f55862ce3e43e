"""Deliveries through Redis and real worker processes: crashes, outages, double clicks, two workers,
a refund while a delivery waits or runs, and no secret in the worker's log."""

from __future__ import annotations

import time

import pytest
import redis
from sqlalchemy import select

from shop.dropbox.deliveries import create_delivery
from shop.dropbox.jobs import Deliverer
from shop.dropbox.models import Delivery, DropboxConnection, delivery_target
from shop.extensions import db
from tests.dropbox.conftest import APP_KEY, BUYER_EMAIL, click, done_count, force_save_url, fresh, per_file_only
from tests.services import RedisServer, wait_until

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def assert_each_file_exactly_once(emulator, delivery: Delivery) -> None:
    files = emulator.list_files(BUYER_EMAIL, APP_KEY)
    by_path = {f["path_display"]: f["content_hash"] for f in files}
    for file in delivery.files:
        assert by_path[file.path] == file.track_file.dropbox_content_hash
    # No "(2)" copies: every file is in the buyer's Dropbox once.
    assert len(files) == len(delivery.files)


def test_click_then_worker_delivers_and_progress_endpoint_reports_it(client, dropbox_buyer, seeded_pack, emulator,
                                                                     start_worker):
    order, token = dropbox_buyer
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
    assert_each_file_exactly_once(emulator, fresh(delivery_id))

    page = client.get(f"/orders/{token}").data.decode()
    assert '<strong class="state-done">In your Dropbox</strong>' in page and "3 MP3 V0 files in" in page
    assert "connected as <strong>b•••@example.com</strong>" in page  # the account, e-mail masked


@pytest.mark.parametrize("stale_seconds", [8], ids=["stale-after-8s"])  # the second worker takes over soon
def test_worker_killed_mid_delivery_resumes_and_finishes_each_file_once(client, dropbox_buyer, seeded_pack, emulator,
                                                                         start_worker):
    order, token = dropbox_buyer
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
    assert fresh(delivery_id).status == "running"
    assert done_count(delivery_id) < 4

    emulator.set_latency(0, route="files/copy_reference/save")
    start_worker()
    assert wait_until(lambda: fresh(delivery_id).status == "done", timeout=120)
    assert time.monotonic() - killed_at < 120
    delivery = fresh(delivery_id)
    assert delivery.attempts >= 2
    files = [f for f in emulator.list_files(BUYER_EMAIL, APP_KEY) if not f["path_display"].endswith(".txt")]
    assert sorted(f["path_display"] for f in files) == sorted(f.path for f in delivery.files)


def test_two_workers_never_deliver_the_same_file_twice(client, dropbox_buyer, seeded_pack, emulator, start_worker, app):
    order, token = dropbox_buyer
    emulator.set_latency(50)
    ids = [click(client, token, album.id, fmt).json["id"]
           for album in seeded_pack.albums for fmt in ("mp3-v0", "flac")]
    # The same job ids enqueued again, as a sweep racing a click would.
    from shop.dropbox.deliveries import enqueue_delivery

    for delivery_id in ids:
        enqueue_delivery(fresh(delivery_id))
    start_worker()
    start_worker()
    assert wait_until(lambda: all(fresh(i).status == "done" for i in ids), timeout=120)
    files = emulator.list_files(BUYER_EMAIL, APP_KEY)
    paths = [f["path_display"] for f in files]
    assert len(paths) == len(set(paths)) == sum(len(fresh(i).files) for i in ids)
    assert not any(" (2)." in p for p in paths)


def test_redis_down_on_click_waits_in_the_database_and_runs_when_it_is_back(app, client, dropbox_buyer, seeded_pack,
                                                                            emulator, start_worker):
    order, token = dropbox_buyer
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
    assert fresh(delivery.id).status == "done"
    assert_each_file_exactly_once(emulator, fresh(delivery.id))


def test_deliveries_of_another_order_are_not_visible(client, app, dropbox_buyer, seeded_pack):
    from tests import factories

    order, token = dropbox_buyer
    delivery_id = click(client, token, seeded_pack.albums[0].id).json["id"]
    _, other_token = factories.make_order(app, seeded_pack, email="other@example.com")
    assert client.get(f"/orders/{other_token}/dropbox/deliveries/{delivery_id}").status_code == 404
    assert client.get(f"/orders/{token}/dropbox/deliveries/999999").status_code == 404
    assert client.get(f"/orders/{token}/dropbox/deliveries/abc").status_code == 404


def test_bad_delivery_requests(client, app, dropbox_buyer, seeded_pack):
    from tests import factories

    order, token = dropbox_buyer
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


def test_the_sweep_leaves_waiting_jobs_alone_and_revives_lost_ones(app, client, dropbox_buyer, seeded_pack):
    from datetime import timedelta

    from shop.dropbox.deliveries import requeue_waiting
    from shop.models import utcnow
    from shop.queue import get_queue

    order, token = dropbox_buyer
    delivery_id = click(client, token, seeded_pack.albums[0].id).json["id"]
    queue = get_queue()
    assert queue.count == 1
    later = utcnow() + timedelta(minutes=5)
    assert requeue_waiting(now=later) == 0  # still in line: not enqueued twice
    assert queue.count == 1

    queue.empty()  # Redis lost the job (restarted without persistence)
    assert requeue_waiting(now=later) == 1
    assert queue.job_ids == [f"delivery-{delivery_id}"]


# --- A refund stops queued and running deliveries (security review M3) -----------------------------


REFUND_REASON = "This order was refunded, so the delivery stopped."


def test_queued_delivery_then_refund_then_a_worker_lands_nothing(client, app, dropbox_buyer, seeded_pack, emulator,
                                                                 start_worker):
    from shop.orders.service import mark_refunded

    order, token = dropbox_buyer
    response = click(client, token, str(seeded_pack.albums[1].id), "wav")
    assert response.status_code == 202
    delivery_id = response.json["id"]
    assert mark_refunded(order.id) is True
    assert mark_refunded(order.id) is False  # idempotent: a retried webhook changes nothing
    assert fresh(delivery_id).status == "cancelled"
    assert db.session.scalar(select(DropboxConnection)) is None  # tokens revoked and forgotten

    worker = start_worker(burst=True)
    assert worker.wait(timeout=60) == 0
    delivery = fresh(delivery_id)
    assert delivery.status == "cancelled" and delivery.error == REFUND_REASON
    assert emulator.list_files(BUYER_EMAIL, APP_KEY) == []

    # The progress JSON still answers for the refunded order, and says why it stopped.
    status = client.get(f"/orders/{token}/dropbox/deliveries/{delivery_id}")
    assert status.status_code == 200
    assert status.json["status"] == "cancelled" and status.json["error"] == REFUND_REASON
    page = client.get(f"/orders/{token}").data.decode()
    assert "This order was refunded" in page and REFUND_REASON in page
    # And nothing brings it back: no retry, no new delivery, no sweep.
    assert client.post(f"/orders/{token}/dropbox/deliveries/{delivery_id}/retry").status_code == 404
    assert click(client, token, "pack").status_code == 404


def test_a_running_pack_delivery_refunded_mid_way_stops_before_the_next_file(client, app, dropbox_buyer, seeded_pack,
                                                                              emulator, start_worker):
    from shop.orders.service import mark_refunded

    order, token = dropbox_buyer
    delivery_id = click(client, token, "pack").json["id"]
    total = len(fresh(delivery_id).files)
    # A file of the buyer's in each folder refuses the folder fast path, and without folder
    # references there is no batch path either: file by file, slowly.
    for path in sorted({f.folder for f in fresh(delivery_id).files}):
        emulator.seed_file(BUYER_EMAIL, APP_KEY, f"{path}/notes.txt", b"mine")
    per_file_only()
    emulator.set_latency(700, route="files/copy_reference/save")
    start_worker()
    assert wait_until(lambda: done_count(delivery_id) >= 1, timeout=60)
    mark_refunded(order.id)
    assert wait_until(lambda: fresh(delivery_id).worker is None, timeout=30)
    time.sleep(2)  # a worker that did not stop would land more files meanwhile
    delivery = fresh(delivery_id)
    assert delivery.status == "cancelled" and delivery.error == REFUND_REASON
    landed = [f for f in emulator.list_files(BUYER_EMAIL, APP_KEY) if not f["path_display"].endswith(".txt")]
    assert 1 <= len(landed) < total
    # What landed is recorded as done; nothing else is.
    assert sorted(f["path_display"] for f in landed) == sorted(f.path for f in delivery.files if f.status == "done")


# --- A Redis outage when a job ends does not kill the worker (security review M4) ------------------


def test_the_worker_survives_redis_going_away_while_a_job_runs(client, app, dropbox_buyer, seeded_pack, emulator,
                                                               start_worker, tmp_path):
    from tests.services import RedisServer

    order, token = dropbox_buyer
    private = RedisServer().start()  # this test's own Redis, to stop and start again
    servers = [private]
    try:
        app.config["REDIS_URL"] = private.url
        app.extensions.pop("shop.redis", None)
        slow_album, quick_album = seeded_pack.albums[2], seeded_pack.albums[0]
        # File by file (a file of the buyer's is in the folder), slowly: the job outlives Redis.
        emulator.seed_file(BUYER_EMAIL, APP_KEY, "/Mono Lake - Salt Flats (MP3 V0)/notes.txt", b"mine")
        emulator.set_latency(700, route="files/copy_reference/save")
        worker = start_worker()
        first_id = click(client, token, str(slow_album.id)).json["id"]
        assert wait_until(lambda: done_count(first_id) >= 1, timeout=60)
        private.stop()
        # The job goes on (it needs only the database and Dropbox) and ends while Redis is down.
        assert wait_until(lambda: fresh(first_id).status == "done", timeout=60)
        time.sleep(3)  # RQ's bookkeeping for the finished job meets the outage here
        assert worker.process.poll() is None, "the worker process exited"

        servers.append(RedisServer(port=private.port).start())
        emulator.set_latency(0, route="files/copy_reference/save")
        app.extensions.pop("shop.redis", None)
        second = click(client, token, str(quick_album.id))
        assert second.status_code in (202, 503)  # 503: saved, and the sweep enqueues it
        second_id = second.json["id"] if second.status_code == 202 else second.json["delivery"]["id"]
        assert wait_until(lambda: fresh(second_id).status == "done", timeout=90)
        assert worker.process.poll() is None
        assert fresh(first_id).status == "done" and fresh(first_id).attempts == 1

        files = emulator.list_files(BUYER_EMAIL, APP_KEY)
        paths = [f["path_display"] for f in files if not f["path_display"].endswith(".txt")]
        expected = [f.path for f in fresh(first_id).files] + [f.path for f in fresh(second_id).files]
        assert sorted(paths) == sorted(expected)  # every file exactly once, no "(2)" copies
        log_text = (tmp_path / "worker-0.log").read_text()
        assert "Redis connection lost (ConnectionError)" in log_text
    finally:
        for server in servers:
            server.stop()


# --- No secret in any log line of the worker side ------------------------------------------------


def test_no_secret_reaches_the_worker_side_logs(client, app, dropbox_buyer, seeded_pack, emulator, store_server,
                                                start_worker, tmp_path, caplog):
    import logging

    order, token = dropbox_buyer
    force_save_url(seeded_pack)  # album 1 in FLAC goes through signed fetch links
    fallback_id = click(client, token, str(seeded_pack.albums[1].id), "flac").json["id"]
    worker = start_worker(burst=True)
    assert worker.wait(timeout=90) == 0
    assert fresh(fallback_id).status == "done" and fresh(fallback_id).used_fallback

    # The buyer revokes the store's access: the next delivery parks (run here, for caplog).
    emulator.unlink(BUYER_EMAIL, APP_KEY)
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/The Quiet Fires - Ember Line (MP3 V0)/notes.txt", b"x")
    revoked, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    with caplog.at_level(logging.DEBUG):
        assert Deliverer(revoked.id, sleep=lambda s: None).run() == "needs reconnect"
        from shop.dropbox.deliveries import sweep

        sweep()

    secrets = {token, app.config["SECRET_KEY"], *app.config["TOKEN_KEYS"].split(",")}
    with emulator.store.lock:
        secrets |= set(emulator.store.access_tokens) | set(emulator.store.refresh_tokens)
    # Our own log lines; the test's in-process HTTP servers (werkzeug) are not the store's
    # logging (gunicorn's access log redacts fetch links; see test_fetch_links.py).
    ours = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records if r.name != "werkzeug")
    worker_log = (tmp_path / "worker-0.log").read_text()
    assert "run_delivery" in worker_log  # the log is there, and it is the worker's
    for text in (ours, worker_log):
        for secret in secrets:
            assert secret not in text
        assert "/dropbox/files/" not in text and "eyJkIjo" not in text  # no fetch link or its payload
