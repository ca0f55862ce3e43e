"""Reproductions of the November 2026 security review's Dropbox findings, now fixed.

Each test failed on the code before its fix (see the commit that fixed it). Real parts:
the emulator over HTTP, a real Redis, real worker processes where the finding is about them.
"""

from __future__ import annotations

import threading
import time

import requests
from sqlalchemy import select

from shop.dropbox.deliveries import create_delivery
from shop.dropbox.jobs import Deliverer
from shop.dropbox.models import Delivery, DropboxConnection, delivery_target
from shop.extensions import db
from shop.models import Order
from tests.dropbox.conftest import APP_KEY, BUYER_EMAIL, per_file_only
from tests.services import wait_until

REFUND_REASON = "This order was refunded, so the delivery stopped."


def fresh(delivery_id: int) -> Delivery:
    """The delivery as the database has it now (and the read transaction ended, for SQLite)."""
    db.session.expire_all()
    delivery = db.session.get(Delivery, delivery_id)
    db.session.commit()
    return delivery


def done_count(delivery_id: int) -> int:
    return sum(1 for f in fresh(delivery_id).files if f.status == "done")


def click(client, token, target: str = "pack", fmt: str = "mp3-v0", **kw):
    url = f"/orders/{token}/dropbox/pack" if target == "pack" else f"/orders/{token}/dropbox/albums/{target}"
    return client.post(url, data={"format": fmt}, headers={"Accept": "application/json"}, **kw)


def refund_directly(order: Order) -> None:
    """A refund as the code before M3 knew it: only the status value changes."""
    db.session.get(Order, order.id).status = "refunded"
    db.session.commit()


# -- M3: refunded orders get no more deliveries ---------------------------------------------------


def test_a_refunded_order_gets_no_more_deliveries(buyer, seeded_pack, emulator):
    order, _ = buyer
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    refund_directly(order)
    Deliverer(delivery.id, sleep=lambda s: None).run()
    delivery = fresh(delivery.id)
    assert delivery.status == "cancelled"
    assert delivery.error == "This order was refunded, so the delivery stopped."
    assert emulator.list_files(BUYER_EMAIL, APP_KEY) == []


def test_queued_delivery_then_refund_then_a_worker_lands_nothing(client, app, buyer, seeded_pack, emulator,
                                                                 start_worker):
    from shop.orders.service import mark_refunded

    order, token = buyer
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


def test_a_running_pack_delivery_refunded_mid_way_stops_before_the_next_file(client, app, buyer, seeded_pack,
                                                                              emulator, start_worker):
    from shop.orders.service import mark_refunded

    order, token = buyer
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


# -- L2: disconnect and the OAuth callback when Dropbox is unreachable ---------------------------


def unreachable(*args, **kwargs):
    raise requests.exceptions.ConnectionError("Dropbox is down")


def test_disconnect_forgets_tokens_even_when_dropbox_is_unreachable(client, app, buyer, monkeypatch):
    order, token = buyer
    monkeypatch.setattr(requests.Session, "request", unreachable)
    assert client.post(f"/orders/{token}/dropbox/disconnect").status_code == 303
    assert db.session.query(DropboxConnection).count() == 0


def test_disconnect_revokes_with_a_short_timeout(app, buyer, monkeypatch):
    from shop.dropbox import connections

    order, _ = buyer
    seen: list[object] = []

    def slow(self, method, url, *args, **kwargs):
        seen.append(kwargs.get("timeout"))
        raise requests.exceptions.ReadTimeout("hung")

    monkeypatch.setattr(requests.Session, "request", slow)
    assert connections.disconnect(order) is True
    assert seen and all(t is not None and t <= connections.REVOKE_TIMEOUT <= 5 for t in seen)
    assert db.session.query(DropboxConnection).count() == 0


def test_callback_when_dropbox_is_unreachable_shows_the_problem_page(client, app, seeded_pack, monkeypatch):
    import re

    from shop.order_links import find_order
    from tests import factories
    from tests.dropbox.test_connect import callback_path, consent, start

    order, token = factories.make_order(app, seeded_pack, email=BUYER_EMAIL)
    location = consent(start(client, token))
    monkeypatch.setattr(requests.Session, "request", unreachable)
    response = client.get(callback_path(location))
    assert response.status_code == 503
    page = response.data.decode()
    assert "Dropbox is unreachable" in page and "try again" in page
    # Back to the order through a fresh link (the cookie never held the token: L10 of 2026-12).
    back = re.search(r'href="/orders/([A-Za-z0-9_-]{43})#dropbox"', page)
    assert back and find_order(back.group(1)).id == order.id
    assert db.session.query(DropboxConnection).count() == 0


# -- L4: fetch links name a delivery file, and only an active delivery of a paid order ----------


def fetch_path(app, delivery_file_id: int) -> str:
    from shop.dropbox.fetch_urls import signed_file_url

    with app.app_context():
        return "/" + signed_file_url(delivery_file_id).split("/", 3)[3]


def test_fetch_links_serve_only_an_active_delivery_of_a_paid_order(client, app, buyer, seeded_pack, emulator,
                                                                    monkeypatch):
    from tests import factories
    from tests.dropbox.conftest import connect_buyer

    order, _ = buyer
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    file = delivery.files[0]
    path = fetch_path(app, file.id)
    good = client.get(path)
    assert good.status_code == 200 and len(good.data) == file.track_file.size
    assert client.get(path[:-2] + ("xx" if not path.endswith("xx") else "yy")).status_code == 404  # forged
    assert client.get("/dropbox/files/not-a-token").status_code == 404

    # Minted 16 minutes ago: expired (Dropbox starts its fetch at once; its own limit is 15 minutes).
    real_time = time.time
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: real_time() - 16 * 60)
    old = fetch_path(app, file.id)
    monkeypatch.setattr("itsdangerous.timed.time.time", real_time)
    assert client.get(old).status_code == 404

    # Another order's delivery, once that order is refunded: nothing more is served.
    other, _ = factories.make_order(app, seeded_pack, email="other@example.com")
    connect_buyer(other, emulator, "other@example.com")
    theirs, _ = create_delivery(other, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    their_path = fetch_path(app, theirs.files[0].id)
    assert client.get(their_path).status_code == 200
    refund_directly(other)
    assert client.get(their_path).status_code == 404
    # A delivery that is over (done) serves nothing either.
    fresh(delivery.id).status = "done"
    db.session.commit()
    assert client.get(path).status_code == 404


def test_fetch_links_are_redacted_in_the_access_log(app):
    import runpy
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from tests.services import ROOT

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logger = settings["RedactingLogger"](Config())
    secret = "eyJkIjoyM30.awy5OA.sftZtTjOCOGz31F5GETlrL-aJbw"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/dropbox/files/{secret}?x=1",
               "PATH_INFO": f"/dropbox/files/{secret}", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_REFERER": f"http://store/dropbox/files/{secret}"}
    atoms = logger.atoms(SimpleNamespace(status="200 OK", headers=[], sent=1), SimpleNamespace(headers=[]), environ,
                         timedelta(seconds=1))
    assert secret not in repr(atoms)
    assert atoms["r"] == "GET /dropbox/files/<token>?x=1 HTTP/1.1"


# -- Seen in the code: save_url job status errors and "appeared meanwhile" ----------------------


def force_save_url(seeded_pack, album_index: int = 1, fmt: str = "flac") -> None:
    """No copy references for one album and format: the job fetches from our signed links."""
    from shop.dropbox.models import AlbumFolderRef

    album = seeded_pack.albums[album_index]
    for track in album.tracks:
        track.file(fmt).copy_ref = None
        track.file(fmt).dropbox_path = None
    db.session.execute(AlbumFolderRef.__table__.delete())
    db.session.commit()


class HookedSession(requests.Session):
    """The emulator's outgoing save_url fetch, with something happening just before it."""

    before = staticmethod(lambda url: None)

    def get(self, url, *args, **kwargs):  # type: ignore[override]
        type(self).before(url)
        return super().get(url, *args, **kwargs)


def test_a_lost_save_url_job_fails_that_file_with_a_message(buyer, seeded_pack, emulator, store_server):
    order, _ = buyer
    force_save_url(seeded_pack)

    def emulator_restarted(url):
        # The emulator keeps save_url jobs in memory: after a restart it knows none of them.
        with emulator.store.lock:
            emulator.store.jobs.clear()
        raise requests.exceptions.ConnectionError("restarting")

    HookedSession.before = staticmethod(emulator_restarted)
    emulator.http_session_factory = HookedSession
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[1].id), "flac")
    outcome = Deliverer(delivery.id, sleep=lambda s: None).run()
    assert outcome == "failed"
    delivery = fresh(delivery.id)
    assert delivery.status == "failed" and delivery.worker is None
    assert all(f.status == "failed" for f in delivery.files)
    assert "lost track of" in delivery.files[0].error and "Press retry" in delivery.error


def test_a_save_url_target_that_appeared_meanwhile_with_our_content_counts_as_delivered(
        buyer, seeded_pack, emulator, store_server, monkeypatch):
    import dropbox
    from dropbox import files as dbx_files

    order, _ = buyer
    force_save_url(seeded_pack)
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[1].id), "flac")
    real_check = dropbox.Dropbox.files_save_url_check_job_status

    def appeared_meanwhile(self, job_id):
        # The emulator writes identical content without complaint; real Dropbox (or a second
        # worker that got there first) may instead answer "failed: path/conflict".
        status = real_check(self, job_id)
        if status.is_complete():
            conflict = dbx_files.WriteError.conflict(dbx_files.WriteConflictError.file)
            return dbx_files.SaveUrlJobStatus.failed(dbx_files.SaveUrlError.path(conflict))
        return status

    monkeypatch.setattr(dropbox.Dropbox, "files_save_url_check_job_status", appeared_meanwhile)
    assert Deliverer(delivery.id, sleep=lambda s: None).run() == "done"
    delivery = fresh(delivery.id)
    assert [f.status for f in delivery.files] == ["done"] * len(delivery.files)
    assert {f.method for f in delivery.files} == {"already_there"}
    files = emulator.list_files(BUYER_EMAIL, APP_KEY)
    assert sorted(f["path_display"] for f in files) == sorted(f.path for f in delivery.files)  # no "(2)"
    assert {f["content_hash"] for f in files} == {f.track_file.dropbox_content_hash for f in delivery.files}


# -- L9: connecting is a CSRF-protected POST from the order page --------------------------------


def test_connect_is_a_post_from_the_order_page_and_the_page_shows_whom_it_linked(client, app, seeded_pack):
    import re

    from tests import factories
    from tests.dropbox.test_connect import callback_path, consent

    order, token = factories.make_order(app, seeded_pack, email=BUYER_EMAIL)
    app.config["WTF_CSRF_ENABLED"] = True
    # An order link opened in someone else's browser starts nothing.
    opened = client.get(f"/orders/{token}/dropbox/connect")
    assert opened.status_code in (303, 405)
    if opened.status_code == 303:
        assert opened.headers["Location"] == f"/orders/{token}#dropbox"
    with client.session_transaction() as session:
        assert "dropbox_connect" not in session and "dropbox-auth-csrf-token" not in session
    assert client.post(f"/orders/{token}/dropbox/connect").status_code == 400  # no CSRF token

    # The page's one way in is an Add to Dropbox form (a POST with its CSRF token): the first
    # one asks Dropbox for consent.
    page = client.get(f"/orders/{token}").data.decode()
    form = re.search(r'<form[^>]*action="(/orders/[^"]+/dropbox/pack)"[^>]*>\s*'
                     r'<input type="hidden" name="csrf_token" value="([^"]+)">\s*'
                     r'<input type="hidden" name="format" value="([^"]+)">', page)
    assert form and form.group(1) == f"/orders/{token}/dropbox/pack"
    started = client.post(form.group(1), data={"csrf_token": form.group(2), "format": form.group(3)})
    assert started.status_code in (302, 303) and "/oauth2/authorize?" in started.headers["Location"]
    back = client.get(callback_path(consent(started.headers["Location"])))
    assert back.status_code == 303

    page = client.get(f"/orders/{token}").data.decode()
    assert "connected as <strong>b•••@example.com</strong>" in page
    assert BUYER_EMAIL not in page.replace(f"Order #{order.id}", "").split("dropbox-box", 1)[1]
    assert re.search(r'action="/orders/[^"]+/dropbox/disconnect"', page)
    assert db.session.scalar(select(DropboxConnection)).account_email == BUYER_EMAIL


# -- L10: repeated deliveries -------------------------------------------------------------------


def test_a_click_after_a_recent_done_delivery_returns_it_instead_of_delivering_again(client, buyer, seeded_pack):
    order, token = buyer
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


def test_add_to_dropbox_is_rate_limited_per_order(client, app, buyer, seeded_pack, emulator):
    from tests import factories
    from tests.dropbox.conftest import connect_buyer

    order, token = buyer
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


# -- L5: the page tells the truth when no worker is running -------------------------------------

PAUSED = "Paused: waiting for our delivery service to restart; this will continue by itself."


def test_a_delivery_without_a_live_worker_says_it_is_paused(client, buyer, seeded_pack):
    from datetime import timedelta

    from shop.models import utcnow

    order, token = buyer
    running, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    queued, _ = create_delivery(order, delivery_target(seeded_pack.albums[1].id), "mp3-v0")
    fresh_one, _ = create_delivery(order, delivery_target(seeded_pack.albums[2].id), "mp3-v0")
    running.status, running.worker = "running", "gone:1:abc"
    running.heartbeat_at = utcnow() - timedelta(minutes=5)
    running.files[0].status = "done"
    queued.created_at = queued.enqueued_at = utcnow() - timedelta(minutes=10)
    db.session.commit()

    data = client.get(f"/orders/{token}/dropbox/deliveries/{running.id}").json
    assert data["status"] == "running" and data["stalled"] is True and data["notice"] == PAUSED
    assert 290 <= data["heartbeat_age"] <= 400
    data = client.get(f"/orders/{token}/dropbox/deliveries/{queued.id}").json
    assert data["stalled"] is True and data["notice"] == PAUSED
    data = client.get(f"/orders/{token}/dropbox/deliveries/{fresh_one.id}").json
    assert data["stalled"] is False and data["notice"] is None

    page = client.get(f"/orders/{token}").data.decode()
    assert page.count(PAUSED) == 2
    assert "1 of 3 files…" not in page  # not the frozen count as if all were well


# -- L6: a heartbeat during long calls, and writes only while holding the claim ------------------


def run_in_thread(app, deliverer: Deliverer) -> tuple[threading.Thread, list[str]]:
    outcome: list[str] = []

    def target() -> None:
        with app.app_context():
            try:
                outcome.append(deliverer.run())
            finally:
                db.session.remove()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_a_slow_call_keeps_the_claim_alive(app, buyer, seeded_pack, emulator):
    order, _ = buyer
    stale = app.config["DELIVERY_STALE_SECONDS"]
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    db.session.commit()
    # One fast-path call that takes longer than the stale limit. The SDK timeout is kept below
    # half of it, but a read timeout bounds each socket read, not the call: an answer that
    # trickles in can take longer. A long timeout and a slow answer stand in for that here.
    app.config["DROPBOX_TIMEOUT"] = 30
    emulator.set_latency((stale + 2) * 1000, route="files/copy_reference/save")
    thread, outcome = run_in_thread(app, Deliverer(delivery.id, sleep=lambda s: None))
    assert wait_until(lambda: fresh(delivery.id).status == "running", timeout=10)
    time.sleep(stale + 0.5)
    assert fresh(delivery.id).status == "running"
    assert not Deliverer(delivery.id).claim()  # not presumed dead: no second worker takes it
    thread.join(timeout=30)
    assert outcome == ["done"]
    delivery = fresh(delivery.id)
    assert delivery.status == "done" and delivery.attempts == 1


def test_a_worker_that_lost_its_claim_during_the_fast_path_writes_nothing(app, buyer, seeded_pack, emulator):
    from datetime import timedelta

    from sqlalchemy import update

    from shop.models import utcnow

    order, _ = buyer
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    db.session.commit()
    app.config["DROPBOX_TIMEOUT"] = 30  # see test_a_slow_call_keeps_the_claim_alive
    emulator.set_latency(2500, route="files/copy_reference/save")
    first = Deliverer(delivery.id, sleep=lambda s: None)
    thread, outcome = run_in_thread(app, first)
    assert wait_until(lambda: fresh(delivery.id).worker == first.worker, timeout=10)
    time.sleep(0.8)  # the fast path's one call is in flight
    # A stale takeover (the first worker was presumed dead): in one transaction, so its
    # own heartbeat cannot slip in between.
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id)
                       .values(heartbeat_at=utcnow() - timedelta(hours=1)))
    second = Deliverer(delivery.id)
    assert second.claim()
    thread.join(timeout=30)
    assert outcome == ["lost claim"]
    delivery = fresh(delivery.id)
    # Worker 2's state stands: still its claim, still running, no file marked by worker 1.
    assert delivery.status == "running" and delivery.worker == second.worker and delivery.finished_at is None
    assert {f.status for f in delivery.files} == {"pending"} and {f.method for f in delivery.files} == {None}


# -- M4: a Redis outage when a job ends does not kill the worker ---------------------------------


def test_the_worker_survives_redis_going_away_while_a_job_runs(client, app, buyer, seeded_pack, emulator,
                                                               start_worker, tmp_path):
    from tests.services import RedisServer

    order, token = buyer
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


def test_make_run_restarts_a_worker_that_exits_and_stops_for_anything_else(monkeypatch):
    import os
    import sys

    from scripts import run_store

    monkeypatch.setattr(run_store, "RESTART_FIRST", 0.1)
    supervisor = run_store.Supervisor()
    env = dict(os.environ)
    try:
        worker = supervisor.start("RQ worker", [sys.executable, "-c", "raise SystemExit(3)"], env, restart=True)
        web = supervisor.start("gunicorn", [sys.executable, "-c", "import time; time.sleep(30)"], env)
        assert worker.wait(timeout=10) == 3
        assert supervisor.first_exited() is None  # restarted, not fatal
        restarted = supervisor.children[0].proc
        assert restarted.pid != worker.pid
        web.terminate()
        web.wait(timeout=10)
        assert wait_until(lambda: supervisor.first_exited() == ("gunicorn", web.returncode), timeout=10)
    finally:
        supervisor.stop_all()


# -- No secret in any log line of the worker side ------------------------------------------------


def test_no_secret_reaches_the_worker_side_logs(client, app, buyer, seeded_pack, emulator, store_server,
                                                start_worker, tmp_path, caplog):
    import logging

    order, token = buyer
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
    # logging (gunicorn's access log redacts fetch links; see the L4 test).
    ours = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records if r.name != "werkzeug")
    worker_log = (tmp_path / "worker-0.log").read_text()
    assert "run_delivery" in worker_log  # the log is there, and it is the worker's
    for text in (ours, worker_log):
        for secret in secrets:
            assert secret not in text
        assert "/dropbox/files/" not in text and "eyJkIjo" not in text  # no fetch link or its payload
