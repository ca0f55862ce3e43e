"""The delivery job against the emulator over HTTP, run in this process for precise faults.

Worker processes, Redis and crashes have their own tests in ``test_worker.py``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import dropbox
import pytest
import requests
from sqlalchemy import select

from dropbox_emulator.testing import RedirectingSession
from shop.dropbox.deliveries import create_delivery, resume_after_reconnect, retry_delivery
from shop.dropbox.delivery_progress import progress
from shop.dropbox.jobs import Deliverer
from shop.dropbox.models import AlbumFolderRef, Delivery, DeliveryFile, delivery_target
from shop.extensions import db
from shop.models import TrackFile
from tests.dropbox.conftest import (
    APP_KEY,
    BUYER_EMAIL,
    STORE_EMAIL,
    connect_buyer,
    force_save_url,
    fresh,
    per_file_only,
    refund_directly,
)
from tests.services import wait_until


class FakeSleep:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


def run(delivery: Delivery, sleep=None) -> Delivery:
    Deliverer(delivery.id, sleep=sleep or FakeSleep()).run()
    db.session.expire_all()
    return db.session.get(Delivery, delivery.id)


def buyer_files(emulator, email=BUYER_EMAIL) -> dict[str, str]:
    return {f["path_display"]: f["content_hash"] for f in emulator.list_files(email, APP_KEY)}


def expected_files(delivery: Delivery) -> dict[str, str]:
    return {f.path: f.track_file.dropbox_content_hash for f in delivery.files}


def calls(emulator, route: str, email: str = BUYER_EMAIL) -> int:
    return emulator.stats.as_json()["accounts"].get(email, {}).get("calls", {}).get(route, 0)


def album_delivery(order, album, fmt="flac") -> Delivery:
    delivery, created = create_delivery(order, f"album:{album.id}", fmt)
    assert created
    return delivery


def test_fast_path_saves_a_whole_album_in_one_call(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[0]
    emulator.stats.reset()
    delivery = run(album_delivery(order, album))
    assert delivery.status == "done"
    assert {f.method for f in delivery.files} == {"folder"}
    assert buyer_files(emulator) == expected_files(delivery)
    assert list(expected_files(delivery)) == [
        "/The Quiet Fires - Ember Line (FLAC)/01 Kindling.flac",
        "/The Quiet Fires - Ember Line (FLAC)/02 Smoke Signals.flac",
        "/The Quiet Fires - Ember Line (FLAC)/03 Ash.flac",
    ]
    assert calls(emulator, "files/copy_reference/save") == 1
    stats = emulator.stats.as_json()
    assert stats["bytes_uploaded_total"] == 0  # nothing uploaded by anyone for a delivery
    assert progress(delivery)["done"] == progress(delivery)["total"] == 3


def test_per_file_path_when_the_folder_exists_and_identical_files_count(dropbox_buyer, seeded_pack, emulator_server):
    order, _ = dropbox_buyer
    server, emulator = emulator_server
    album = seeded_pack.albums[0]
    first = run(album_delivery(order, album, "mp3-v0"))
    # The buyer deletes one file; a second delivery must restore just that one.
    gone = first.files[1]
    assert gone.path in buyer_files(emulator)
    issued = emulator.issue_tokens(APP_KEY, BUYER_EMAIL)
    dropbox.Dropbox(issued.access_token, session=RedirectingSession(server.base_url)).files_delete_v2(gone.path)
    emulator.stats.reset()
    per_file_only()  # the batch path has its own tests (test_half_delivered.py)
    second = run(album_delivery(order, album, "mp3-v0"))
    assert second.status == "done"
    methods = Counter(f.method for f in second.files)
    assert methods == {"already_there": 2, "copy_reference": 1}
    assert buyer_files(emulator) == expected_files(second)
    # One listing of the folder finds two in place; only the missing one is saved.
    assert calls(emulator, "files/list_folder") == 1
    assert calls(emulator, "files/copy_reference/save") == 1


def test_a_different_file_in_the_way_gets_a_free_name(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[0]
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/The Quiet Fires - Ember Line (WAV)/02 Smoke Signals.wav", b"mine!")
    delivery = run(album_delivery(order, album, "wav"))
    assert delivery.status == "done"
    moved = next(f for f in delivery.files if f.name == "02 Smoke Signals.wav")
    assert moved.final_path == "/The Quiet Fires - Ember Line (WAV)/02 Smoke Signals (2).wav"
    files = buyer_files(emulator)
    assert files[moved.final_path] == moved.track_file.dropbox_content_hash
    assert "/The Quiet Fires - Ember Line (WAV)/02 Smoke Signals.wav" in files  # the buyer's own file kept
    assert len(files) == 4


def test_expired_file_references_are_minted_again(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[0]
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/The Quiet Fires - Ember Line (MP3 V0)/other.txt", b"x")  # no fast path
    refs = {f.id: f.copy_ref for t in album.tracks for f in t.files if f.format == "mp3-v0"}
    for ref in refs.values():
        emulator.expire_copy_reference(ref)
    per_file_only()
    delivery = run(album_delivery(order, album, "mp3-v0"))
    assert delivery.status == "done" and not delivery.used_fallback
    assert {f.method for f in delivery.files} == {"copy_reference"}
    db.session.expire_all()
    for file_id, old in refs.items():
        assert db.session.get(TrackFile, file_id).copy_ref != old
    assert expected_files(delivery).items() <= buyer_files(emulator).items()


def test_expired_folder_reference_is_minted_again(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[0]
    ref = db.session.scalar(select(AlbumFolderRef).where(AlbumFolderRef.album_id == album.id,
                                                         AlbumFolderRef.format == "flac"))
    emulator.expire_copy_reference(ref.copy_ref)
    delivery = run(album_delivery(order, album))
    assert delivery.status == "done"
    assert {f.method for f in delivery.files} == {"folder"}


def test_no_reference_falls_back_to_save_url_from_a_signed_link(dropbox_buyer, seeded_pack, emulator, store_server):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[1]
    for track in album.tracks:
        track.file("flac").copy_ref = None
        track.file("flac").dropbox_path = None
    db.session.execute(AlbumFolderRef.__table__.delete())
    db.session.commit()
    emulator.stats.reset()
    delivery = run(album_delivery(order, album))
    assert delivery.status == "done", delivery.error
    assert delivery.used_fallback
    assert {f.method for f in delivery.files} == {"save_url"}
    assert buyer_files(emulator) == expected_files(delivery)
    assert calls(emulator, "files/save_url") == 2


def test_signed_fetch_links_refuse_forgery(client, app, dropbox_buyer, seeded_pack):
    from shop.dropbox.fetch_urls import signed_file_url

    order, _ = dropbox_buyer
    file = album_delivery(order, seeded_pack.albums[0]).files[0]
    with app.test_request_context():
        url = signed_file_url(file.id)
    path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    good = client.get("/" + path)
    assert good.status_code == 200 and len(good.data) == file.track_file.size
    assert client.get("/" + path[:-2] + "xx").status_code == 404
    assert client.get("/dropbox/files/not-a-token").status_code == 404


def test_429_storms_are_waited_out_as_told(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[2]
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/Mono Lake - Salt Flats (FLAC)/notes.txt", b"x")
    emulator.add_fault({"kind": "too_many_requests", "route": "files/copy_reference/save", "email": BUYER_EMAIL,
                        "count": 3, "retry_after": 7})
    emulator.add_fault({"kind": "too_many_write_operations", "route": "files/copy_reference/save",
                        "email": BUYER_EMAIL, "count": 2})
    emulator.add_fault({"kind": "too_many_requests_text", "route": "files/copy_reference/save",
                        "email": BUYER_EMAIL, "count": 1, "retry_after": 4})
    sleep = FakeSleep()
    delivery = run(album_delivery(order, album), sleep=sleep)
    assert delivery.status == "done"
    assert sleep.total >= 3 * 7 + 2 * 1 + 4
    assert buyer_files(emulator).items() >= expected_files(delivery).items()
    assert len(buyer_files(emulator)) == 5  # four tracks, each exactly once, plus notes.txt


def test_server_errors_get_bounded_retries(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[2]
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/Mono Lake - Salt Flats (MP3 V0)/notes.txt", b"x")
    emulator.add_fault({"status": 500, "route": "files/copy_reference/save", "email": BUYER_EMAIL, "count": 2})
    emulator.add_fault({"status": 503, "route": "files/copy_reference/save", "email": BUYER_EMAIL, "count": 1})
    delivery = run(album_delivery(order, album, "mp3-v0"))
    assert delivery.status == "done"

    # A Dropbox that keeps failing: the file fails, the delivery says so, and retry finishes it.
    other = seeded_pack.albums[1]
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/Björk Ørsted - Ünïcode & Co_slash (MP3 V0)/x.txt", b"x")
    emulator.add_fault({"status": 500, "route": "files/copy_reference/save", "email": BUYER_EMAIL, "count": 5})
    per_file_only()
    failed = run(album_delivery(order, other, "mp3-v0"))
    assert failed.status == "failed"
    assert "Press retry" in failed.error
    assert Counter(f.status for f in failed.files) == {"failed": 1, "done": 1}
    retry_delivery(failed)  # Redis is up: it is enqueued too, but we run it here
    again = run(failed)
    assert again.status == "done"


def test_revoked_buyer_token_parks_the_delivery_until_reconnect(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[2]
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/Mono Lake - Salt Flats (WAV)/notes.txt", b"x")
    emulator.unlink(BUYER_EMAIL, APP_KEY)
    delivery = run(album_delivery(order, album, "wav"))
    assert delivery.status == "needs_reconnect"
    assert "Reconnect" in delivery.error
    assert all(f.status == "pending" for f in delivery.files)

    connect_buyer(order, emulator)
    assert resume_after_reconnect(order.id) == 1
    resumed = run(delivery)
    assert resumed.status == "done"
    assert buyer_files(emulator).items() >= expected_files(resumed).items()


def test_expired_buyer_access_token_is_refreshed_silently(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    emulator.expire_access_tokens(email=BUYER_EMAIL)
    delivery = run(album_delivery(order, seeded_pack.albums[0]))
    assert delivery.status == "done"


def test_a_second_click_returns_the_same_delivery(dropbox_buyer, seeded_pack):
    order, _ = dropbox_buyer
    album = seeded_pack.albums[0]
    first, created = create_delivery(order, f"album:{album.id}", "mp3-v0")
    second, created_again = create_delivery(order, f"album:{album.id}", "mp3-v0")
    assert created and not created_again and first.id == second.id
    # Another format or target is another delivery.
    assert create_delivery(order, f"album:{album.id}", "wav")[1]
    assert create_delivery(order, "pack", "mp3-v0")[1]


def test_the_database_refuses_two_active_deliveries(dropbox_buyer, seeded_pack):
    from sqlalchemy.exc import IntegrityError

    order, _ = dropbox_buyer
    db.session.add(Delivery(order_id=order.id, target="pack", format="mp3-v0"))
    db.session.commit()
    db.session.add(Delivery(order_id=order.id, target="pack", format="mp3-v0"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Once finished, a new one may start.
    db.session.execute(Delivery.__table__.update().values(status="done"))
    db.session.add(Delivery(order_id=order.id, target="pack", format="mp3-v0"))
    db.session.commit()


def test_pack_delivery_covers_every_album(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    delivery, _ = create_delivery(order, "pack", "mp3-v0")
    assert len(delivery.files) == 9
    delivery = run(delivery)
    assert delivery.status == "done"
    assert buyer_files(emulator) == expected_files(delivery)
    assert calls(emulator, "files/copy_reference/save") == 3  # one per album folder


@pytest.mark.postgresql
def test_a_claimed_delivery_is_not_run_twice(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    delivery = album_delivery(order, seeded_pack.albums[0])
    first = Deliverer(delivery.id)
    assert first.claim()
    assert not Deliverer(delivery.id).claim()  # a second worker backs off
    assert Deliverer(delivery.id).run().startswith("not claimed")


def test_progress_reports_each_file(dropbox_buyer, seeded_pack):
    order, _ = dropbox_buyer
    delivery = album_delivery(order, seeded_pack.albums[1], "wav")
    data = progress(delivery)
    assert data["status"] == "queued" and data["done"] == 0 and data["total"] == 2
    assert [f["name"] for f in data["files"]] == ["01 Intro_ 東京.wav", "02 Quote _this_.wav"]
    assert data["error"] is None
    assert db.session.scalar(select(DeliveryFile).limit(1)).status == "pending"


def test_store_account_is_never_written_by_a_delivery(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    before = buyer_files(emulator, STORE_EMAIL)
    run(album_delivery(order, seeded_pack.albums[0]))
    assert buyer_files(emulator, STORE_EMAIL) == before


def test_a_delivery_that_keeps_crashing_is_given_up_and_can_be_retried(dropbox_buyer, seeded_pack, emulator):
    from shop.dropbox.jobs import MAX_ATTEMPTS

    order, _ = dropbox_buyer
    delivery = album_delivery(order, seeded_pack.albums[0])
    delivery.attempts = MAX_ATTEMPTS
    db.session.commit()
    stopped = run(delivery)
    assert stopped.status == "failed" and "interrupted" in stopped.error
    assert retry_delivery(stopped)
    assert run(stopped).status == "done"


# --- Refunded orders get no more deliveries (security review M3) -----------------------------------


def test_a_refunded_order_gets_no_more_deliveries(dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    refund_directly(order)
    Deliverer(delivery.id, sleep=lambda s: None).run()
    delivery = fresh(delivery.id)
    assert delivery.status == "cancelled"
    assert delivery.error == "This order was refunded, so the delivery stopped."
    assert emulator.list_files(BUYER_EMAIL, APP_KEY) == []


# --- Seen in the code: save_url job status errors and "appeared meanwhile" ------------------------


class HookedSession(requests.Session):
    """The emulator's outgoing save_url fetch, with something happening just before it."""

    before = staticmethod(lambda url: None)

    def get(self, url, *args, **kwargs):  # type: ignore[override]
        type(self).before(url)
        return super().get(url, *args, **kwargs)


def test_a_lost_save_url_job_fails_that_file_with_a_message(dropbox_buyer, seeded_pack, emulator, store_server):
    order, _ = dropbox_buyer
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
        dropbox_buyer, seeded_pack, emulator, store_server, monkeypatch):
    import dropbox
    from dropbox import files as dbx_files

    order, _ = dropbox_buyer
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


# --- A heartbeat during long calls, and writes only while holding the claim (security review L6) ---


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


@pytest.mark.parametrize("stale_seconds", [3], ids=["stale-after-3s"])  # the test waits out the limit
def test_a_slow_call_keeps_the_claim_alive(app, dropbox_buyer, seeded_pack, emulator):
    order, _ = dropbox_buyer
    stale = app.config["DELIVERY_STALE_SECONDS"]
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    db.session.commit()
    # One fast-path call that takes longer than the stale limit. The SDK timeout is kept below
    # half of it, but a read timeout bounds each socket read, not the call: an answer that
    # trickles in can take longer. A long timeout and a slow answer stand in for that here.
    app.config["DROPBOX_TIMEOUT"] = 30
    # The call lasts the stale limit and 4 s more: the checks below run 0.5 s past the limit,
    # counted from when the emulator received the call, which leaves 3.5 s for a busy machine.
    emulator.set_latency((stale + 4) * 1000, route="files/copy_reference/save")
    thread, outcome = run_in_thread(app, Deliverer(delivery.id, sleep=lambda s: None))
    assert wait_until(lambda: fresh(delivery.id).status == "running", timeout=10)
    assert wait_until(lambda: calls(emulator, "files/copy_reference/save") >= 1, timeout=30)
    time.sleep(stale + 0.5)
    assert fresh(delivery.id).status == "running"
    assert not Deliverer(delivery.id).claim()  # not presumed dead: no second worker takes it
    thread.join(timeout=30)
    assert outcome == ["done"]
    delivery = fresh(delivery.id)
    assert delivery.status == "done" and delivery.attempts == 1


def test_a_worker_that_lost_its_claim_during_the_fast_path_writes_nothing(app, dropbox_buyer, seeded_pack, emulator):
    from datetime import timedelta

    from sqlalchemy import update

    from shop.models import utcnow

    order, _ = dropbox_buyer
    delivery, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    db.session.commit()
    app.config["DROPBOX_TIMEOUT"] = 30  # see test_a_slow_call_keeps_the_claim_alive
    emulator.set_latency(2500, route="files/copy_reference/save")
    first = Deliverer(delivery.id, sleep=lambda s: None)
    thread, outcome = run_in_thread(app, first)
    assert wait_until(lambda: fresh(delivery.id).worker == first.worker, timeout=10)
    # The fast path's one call is in flight: the emulator has received it (and holds it 2.5 s).
    assert wait_until(lambda: calls(emulator, "files/copy_reference/save") >= 1, timeout=30)
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
