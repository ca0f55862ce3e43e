"""Deliveries by state with retry, the RQ queues and workers with failed jobs and requeue, the
store's Dropbox link and copy references about to expire: against a real Redis, and with
Redis down (the pages still answer)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

from shop.dropbox.models import AlbumFolderRef, Delivery, DeliveryFile
from shop.extensions import db
from shop.models import TrackFile, utcnow
from shop.queue import get_redis
from tests import factories
from tests.admin.conftest import audit_rows

SECRET_URL = "https://shop.test/orders/" + "A" * 43


def delivery(order, status: str, error: str | None = None, **values) -> Delivery:
    row = Delivery(order_id=order.id, target=values.pop("target", "pack"), format=values.pop("format", "flac"),
                   status=status, error=error, **values)
    db.session.add(row)
    db.session.commit()
    return row


def test_deliveries_by_state_with_error_order_and_age(app, admin_client, pack):
    order, _ = factories.make_order(app, pack)
    other, _ = factories.make_order(app, pack, email="b@example.com")
    delivery(order, "running", heartbeat_at=utcnow())
    delivery(order, "failed", "2 of 4 files could not be copied. Press retry.", target="album:1",
             created_at=utcnow() - timedelta(hours=3))
    delivery(other, "needs_space", "Your Dropbox is full")
    delivery(other, "cancelled", "This order was refunded, so the delivery stopped.", target="album:2")
    delivery(other, "needs_reconnect", "Connect Dropbox again", target="album:1")
    html = admin_client.get("/admin/deliveries").data.decode()
    for heading in ("Running", "Queued or waiting", "Needs reconnect", "Needs space", "Failed", "Cancelled"):
        assert f"<h2>{heading} " in html
    assert "Press retry." in html and "Your Dropbox is full" in html and "so the delivery stopped" in html
    assert f'href="/admin/orders/{order.id}"' in html and ">3 h ago<" in html
    # Retry buttons only where a retry can do something (failed, out of space).
    assert html.count("Retry delivery #") == 2 and "Retry all failed" in html


def test_retry_one_and_all_failed(app, admin_client, pack, redis_app):
    order, _ = factories.make_order(app, pack)
    album = pack.albums[0]
    first = delivery(order, "failed", "boom", target=f"album:{album.id}")
    track_file = album.tracks[0].files[0]
    db.session.add(DeliveryFile(delivery_id=first.id, track_file_id=track_file.id, album_id=album.id, position=1,
                                folder="f", name="n", status="failed", error="boom"))
    second = delivery(order, "failed", "boom", target=f"album:{pack.albums[1].id}")
    refunded, _ = factories.make_order(app, pack, email="gone@example.com")
    stuck = delivery(refunded, "failed", "boom")
    refunded.status = "refunded"
    db.session.commit()

    response = admin_client.post(f"/admin/deliveries/{first.id}/retry", follow_redirects=True)
    assert f"Delivery #{first.id} is queued again.".encode() in response.data
    db.session.expire_all()
    assert first.status == "queued" and first.error is None and first.files[0].status == "pending"
    assert Queue("deliveries", connection=get_redis()).get_job_ids() == [first.job_id]
    assert audit_rows()[-1].action == "delivery.retry" and audit_rows()[-1].details["retried"] is True

    not_again = admin_client.post(f"/admin/deliveries/{first.id}/retry", follow_redirects=True)
    assert b"was not retried" in not_again.data

    response = admin_client.post("/admin/deliveries/retry-failed", follow_redirects=True)
    assert b"1 failed deliveries queued again, 1 skipped." in response.data
    db.session.expire_all()
    assert second.status == "queued" and stuck.status == "failed"
    assert audit_rows()[-1].action == "delivery.retry_all_failed"
    assert admin_client.post("/admin/deliveries/999999/retry").status_code == 404


def failed_job(connection, queue_name: str = "deliveries", job_id: str = "delivery-77") -> Job:
    queue = Queue(queue_name, connection=connection)
    job = queue.enqueue("shop.dropbox.jobs.run_delivery", 77, job_id=job_id)
    queue.remove(job)
    # As a worker files a failure: the job in the failed registry, the traceback in its result.
    traceback = f"Traceback (most recent call last):\nRuntimeError: fetching {SECRET_URL} failed"
    FailedJobRegistry(queue=queue).add(job, exc_string=traceback)
    Result.create_failure(job, ttl=600, exc_string=traceback)
    return job


def test_workers_page_shows_queues_workers_and_failed_jobs(app, admin_client, pack, redis_app):
    from rq import Worker

    connection = get_redis()
    Queue("encoding", connection=connection).enqueue("shop.catalog.jobs.encode_track", 5, job_id="encode-track-5")
    failed_job(connection)
    worker = Worker(["deliveries", "encoding"], connection=connection, name="web-1-worker")
    worker.register_birth()
    worker.heartbeat()
    try:
        html = admin_client.get("/admin/workers").data.decode()
    finally:
        worker.register_death()
    assert "<td>encoding</td><td>1</td>" in html and "<td>deliveries</td><td>0</td>" in html
    assert "web-1-worker" in html and " s ago" in html
    assert "delivery-77" in html and "RuntimeError: fetching" in html
    assert "A" * 43 not in html, "a traceback's order token reached the page"
    assert "Not linked" in html and "Queue unavailable" not in html


def test_requeue_one_and_all_failed_jobs_by_post_only(app, admin_client, redis_app):
    connection = get_redis()
    failed_job(connection, job_id="delivery-77")
    failed_job(connection, "encoding", job_id="encode-track-9")
    # GET never requeues: the routes are POST only.
    assert admin_client.get("/admin/workers/failed/requeue").status_code == 405
    response = admin_client.post("/admin/workers/failed/requeue", data={"job_id": "delivery-77"},
                                 follow_redirects=True)
    assert b"1 failed job(s) requeued." in response.data
    assert Queue("deliveries", connection=connection).get_job_ids() == ["delivery-77"]
    assert audit_rows()[-1].action == "job.requeue" and audit_rows()[-1].target == "delivery-77"
    missing = admin_client.post("/admin/workers/failed/requeue", data={"job_id": "nope"}, follow_redirects=True)
    assert b"no failed job" in missing.data
    response = admin_client.post("/admin/workers/failed/requeue-all", follow_redirects=True)
    assert b"1 failed job(s) requeued." in response.data
    assert Queue("encoding", connection=connection).get_job_ids() == ["encode-track-9"]
    assert audit_rows()[-1].action == "job.requeue_all_failed"


def test_redis_down_does_not_break_the_pages(app, admin_client, pack, redis_down):
    order, _ = factories.make_order(app, pack)
    failed = delivery(order, "failed", "boom")
    html = admin_client.get("/admin/workers")
    assert html.status_code == 200 and b"Queue unavailable" in html.data
    assert admin_client.get("/admin/deliveries").status_code == 200
    response = admin_client.post("/admin/workers/failed/requeue-all", follow_redirects=True)
    assert b"The queue is unavailable: nothing was requeued." in response.data
    # The retry is recorded in the database; the sweep enqueues it once Redis is back.
    response = admin_client.post(f"/admin/deliveries/{failed.id}/retry", follow_redirects=True)
    db.session.expire_all()
    assert failed.status == "queued" and failed.enqueued_at is None
    assert admin_client.get(f"/admin/packs/{pack.id}").status_code == 200


def test_expiring_copy_references_and_remint(app, admin_client, pack, redis_app):
    album = pack.albums[0]
    soon = utcnow() + timedelta(days=3)
    file: TrackFile = album.tracks[0].files[0]
    file.copy_ref, file.copy_ref_expires_at, file.dropbox_path = "ref-1", soon, "/x"
    db.session.add(AlbumFolderRef(album_id=album.id, format="flac", dropbox_path="/x", copy_ref="ref-2",
                                  copy_ref_expires_at=soon, file_count=1))
    later = pack.albums[1].tracks[0].files[0]
    later.copy_ref, later.copy_ref_expires_at = "ref-3", utcnow() + timedelta(days=25)
    db.session.commit()
    html = admin_client.get("/admin/workers").data.decode()
    assert f"{album.artist} — {album.title}" in html and "2 references" in html
    assert pack.albums[1].title not in html.split('id="expiring"')[1]
    response = admin_client.post("/admin/workers/remint", follow_redirects=True)
    assert b"Re-minting the references of 1 album(s)" in response.data
    [job] = Queue("encoding", connection=get_redis()).get_jobs()
    assert job.func_name == "shop.dropbox.seed.seed_albums" and job.args[0] == [album.id]
    assert audit_rows()[-1].action == "references.remint"

    # The job first lets those references count as expired, so the seed mints them again.
    from datetime import datetime

    from shop.dropbox.seed import expire_references_before

    expire_references_before([album.id], datetime.fromisoformat(job.args[1]))
    db.session.expire_all()
    assert file.copy_ref == "ref-1" and file.copy_ref_expires_at <= utcnow()
    assert later.copy_ref_expires_at > utcnow() + timedelta(days=20)


@pytest.mark.parametrize("linked", [False, True])
def test_store_dropbox_link_state_never_hangs(app, admin_client, linked):
    if linked:
        app.config["DROPBOX_STORE_REFRESH_TOKEN"] = "refresh-token"
        app.config["DROPBOX_APP_KEY"], app.config["DROPBOX_APP_SECRET"] = "key", "secret"
        # A Dropbox that does not answer: a closed port.
        from tests.services import free_port

        app.config["DROPBOX_API_URL"] = f"http://127.0.0.1:{free_port()}"
        app.extensions.pop("shop.dropbox_session", None)
    html = admin_client.get("/admin/workers").data.decode()
    if linked:
        assert "Linked" in html and "Dropbox did not answer" in html
    else:
        assert "Not linked" in html
