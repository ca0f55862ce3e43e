"""After a job: a refreshed buyer token is kept, and a long delivery e-mails the buyer once."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

from shop.crypto import get_token_box
from shop.dropbox.deliveries import create_delivery
from shop.dropbox.models import Delivery, DropboxConnection
from shop.dropbox.notify import notify_if_long
from shop.extensions import db
from shop.models import utcnow
from shop.order_links import find_order
from tests.dropbox.conftest import BUYER_EMAIL
from tests.dropbox.test_delivery import run


def album_delivery(order, album, fmt="flac") -> Delivery:
    delivery, created = create_delivery(order, f"album:{album.id}", fmt)
    assert created
    return delivery


def outbox(app) -> list[email.message.EmailMessage]:
    folder = Path(app.config["OUTBOX_DIR"])
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def test_a_refreshed_access_token_is_written_back_so_the_next_job_does_not_refresh(dropbox_buyer, seeded_pack,
                                                                                  emulator):
    order, _ = dropbox_buyer
    before = db.session.query(DropboxConnection).one().access_token_enc
    emulator.expire_access_tokens(email=BUYER_EMAIL)
    emulator.stats.reset()

    assert run(album_delivery(order, seeded_pack.albums[0])).status == "done"
    db.session.expire_all()
    connection = db.session.query(DropboxConnection).one()
    assert connection.access_token_enc != before
    stored = get_token_box().decrypt(connection.access_token_enc)
    assert stored.startswith("sl.")
    assert connection.access_token_expires_at > utcnow() + timedelta(hours=3)

    assert run(album_delivery(order, seeded_pack.albums[1])).status == "done"
    stats = emulator.stats.as_json()
    assert stats["calls"]["oauth2/token"] == 1  # one refresh across both jobs
    assert stats["accounts"][BUYER_EMAIL]["calls"]["files/copy_reference/save"] == 2


def test_a_long_delivery_mails_the_buyer_once_and_a_quick_one_does_not(app, dropbox_buyer, seeded_pack):
    order, _ = dropbox_buyer
    quick = run(album_delivery(order, seeded_pack.albums[0]))
    assert quick.status == "done" and quick.notified_at is None
    assert outbox(app) == []

    long = album_delivery(order, seeded_pack.albums[2])
    long.started_at = utcnow() - timedelta(minutes=3)  # a worker started it three minutes ago
    db.session.commit()
    done = run(long)
    assert done.status == "done" and done.notified_at is not None
    assert notify_if_long(done.id) is False  # exactly once, however often it is asked
    mails = outbox(app)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == BUYER_EMAIL
    assert mail["Subject"] == "Your music is in your Dropbox"
    text = mail.get_body(("plain",)).get_content()
    assert "All 4 files" in text and "Apps/Indie Packs/Mono Lake - Salt Flats (FLAC)" in text
    link = next(line for line in text.splitlines() if line.startswith("http"))
    assert link.startswith(app.config["BASE_URL"] + "/orders/") and link.endswith(f"#delivery-{done.id}")
    token = link.split("/orders/", 1)[1].split("#", 1)[0]
    assert find_order(token).id == order.id  # a fresh link that opens this order


def test_a_long_delivery_that_needs_space_mails_and_the_retry_can_mail_again(app, client, dropbox_buyer, seeded_pack,
                                                                             emulator):
    order, token = dropbox_buyer
    album = seeded_pack.albums[2]
    emulator.set_space_allocation(BUYER_EMAIL, 2 * 2048)
    delivery = album_delivery(order, album)
    delivery.started_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    parked = run(delivery)
    assert parked.status == "needs_space"
    mails = outbox(app)
    assert [m["Subject"] for m in mails] == ["Your Dropbox is full: make room to finish the delivery"]
    assert "2 of 4 files arrived" in mails[0].get_body(("plain",)).get_content()

    emulator.set_space_allocation(BUYER_EMAIL, 10 * 2048)
    assert client.post(f"/orders/{token}/dropbox/deliveries/{parked.id}/retry",
                       headers={"Accept": "application/json"}).status_code == 202
    retried = db.session.get(Delivery, parked.id)
    assert retried.notified_at is None and retried.started_at is None
    assert run(retried).status == "done"
    assert len(outbox(app)) == 1  # the retry ran quickly: no second mail


def test_a_mail_that_cannot_be_sent_does_not_fail_the_delivery(app, dropbox_buyer, seeded_pack, caplog):
    from tests.services import free_port

    order, _ = dropbox_buyer
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    delivery = album_delivery(order, seeded_pack.albums[0])
    delivery.started_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    done = run(delivery)
    assert done.status == "done"
    assert done.notified_at is not None  # tried once, not again
    assert "end-of-delivery mail could not be sent" in caplog.text
