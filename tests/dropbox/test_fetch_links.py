"""The signed fetch links of the save_url fallback (``shop/dropbox/fetch_urls.py``): each names one
delivery file, serves only an active delivery of a paid order, and never reaches the access log
(security review L4)."""

from __future__ import annotations

import time

from shop.dropbox.deliveries import create_delivery
from shop.dropbox.models import delivery_target
from shop.extensions import db
from tests.dropbox.conftest import fresh, refund_directly


def fetch_path(app, delivery_file_id: int) -> str:
    from shop.dropbox.fetch_urls import signed_file_url

    with app.app_context():
        return "/" + signed_file_url(delivery_file_id).split("/", 3)[3]


def test_fetch_links_serve_only_an_active_delivery_of_a_paid_order(client, app, dropbox_buyer, seeded_pack, emulator,
                                                                    monkeypatch):
    from tests import factories
    from tests.dropbox.conftest import connect_buyer

    order, _ = dropbox_buyer
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
