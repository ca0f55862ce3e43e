"""Order links, the order page, receipts over real SMTP, and lost links."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import time
from html import escape as html_escape
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text

from shop.extensions import db
from shop.formats import get_format
from shop.models import FORMATS, Order, OrderLink
from shop.order_links import hash_token
from tests import factories


def test_token_has_enough_entropy_and_only_its_hash_is_stored(app, pack):
    order, token = factories.make_order(app, pack)
    assert len(token) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # >= 128 bits of base64url
    assert db.session.scalar(select(OrderLink.token_hash)) == hash_token(token)
    # The raw token appears nowhere in the database: scan every text column of every table.
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(table.select()):
            for value in row:
                assert token not in str(value), f"raw token found in {table.name}"


def test_raw_token_not_in_database_after_a_real_purchase(client, app, pack):
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "9", "email": "x@example.com"})
    confirmed = client.post(response.headers["Location"])
    token = confirmed.headers["Location"].rsplit("/", 1)[1]
    mail_token = re.search(r"/orders/([A-Za-z0-9_-]{43})", read_outbox(app)[0]).group(1)
    dump = "\n".join(str(v) for t in db.metadata.sorted_tables for r in db.session.execute(t.select()) for v in r)
    assert token not in dump and mail_token not in dump


@pytest.mark.parametrize(
    "bad",
    ["x", "A" * 43, "A" * 42, "A" * 44, "%00" * 5, "..%2F..%2Fetc%2Fpasswd", "' OR 1=1 --", "ünïcode" * 6,
     "A" * 5000],
)
def test_unknown_or_malformed_tokens_get_the_same_plain_404(client, pack, bad):
    response = client.get(f"/orders/{bad}")
    assert response.status_code == 404
    reference = client.get("/orders/" + "B" * 43)
    assert response.data == reference.data


def test_order_page_is_read_only_and_lists_downloads_and_dropbox(client, app, pack):
    app.config.update(DROPBOX_APP_KEY="key", DROPBOX_APP_SECRET="secret")
    order, token = factories.make_order(app, pack)
    before = [tuple(r) for t in db.metadata.sorted_tables for r in db.session.execute(t.select())]
    response = client.get(f"/orders/{token}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    html = response.data.decode()
    for album in pack.albums:
        for fmt in FORMATS:
            assert f"/orders/{token}/albums/{album.id}/{fmt}.zip" in html
        assert f'<select id="album-format-{album.id}" data-format-select>' in html
        assert f'<label for="album-format-{album.id}">Format<span class="visually-hidden"> for ' in html
        assert f"/orders/{token}/dropbox/albums/{album.id}" in html
        for track in album.tracks:
            for fmt in FORMATS:
                assert f'data-format="{fmt}"><a href="/orders/{token}/tracks/{track.id}/{fmt}"' in html
    for fmt in FORMATS:
        assert f"/orders/{token}/pack/{fmt}.zip" in html
        description = html_escape(get_format(fmt).description)
        # The download <select>s (pack and each album) and the Dropbox ones (pack and each album).
        assert html.count(f">{description} (") == 1 + len(pack.albums)
        assert html.count(f">{description}</option>") == 1 + len(pack.albums)
    assert '<select id="pack-format" data-format-select>' in html
    assert f"/orders/{token}/dropbox/connect" in html
    db.session.expire_all()
    after = [tuple(r) for t in db.metadata.sorted_tables for r in db.session.execute(t.select())]
    assert before == after


def test_pending_and_refunded_orders_show_no_downloads(client, app, pack):
    _, pending = factories.make_order(app, pack, paid=False)
    html = client.get(f"/orders/{pending}").data.decode()
    assert "Waiting for your payment" in html and ".zip" not in html
    order, refunded = factories.make_order(app, pack, email="r@example.com")
    order.status = "refunded"
    db.session.commit()
    html = client.get(f"/orders/{refunded}").data.decode()
    assert "refunded" in html and ".zip" not in html


def read_outbox(app) -> list[str]:
    files = sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    return [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default).get_body(("plain",)).get_content()
        for f in files
    ]


def test_receipt_in_outbox_has_text_and_html_with_a_working_link(client, app, pack):
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "9.99", "email": "fan@example.com"})
    client.post(response.headers["Location"])
    files = list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] == "fan@example.com"
    text_body = msg.get_body(("plain",)).get_content()
    html_body = msg.get_body(("html",)).get_content()
    link = re.search(r"http://shop\.test(/orders/[A-Za-z0-9_-]{43})", text_body).group(1)
    assert link in html_body
    assert "$9.99" in text_body
    assert client.get(link).status_code == 200


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_receipt_over_real_smtp(client, app, pack, smtp_server):
    controller, inbox = smtp_server
    app.config["MAIL_URL"] = f"smtp://{controller.hostname}:{controller.port}"
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "20", "email": "smtp@example.com"})
    client.post(response.headers["Location"])
    assert wait_for(lambda: len(inbox.messages) == 1)
    msg = inbox.messages[0]
    assert msg["To"] == "smtp@example.com"
    assert msg.get_body(("html",)) is not None
    link = re.search(r"/orders/[A-Za-z0-9_-]{43}", msg.get_body(("plain",)).get_content()).group(0)
    assert client.get(link).status_code == 200
    assert not Path(app.config["OUTBOX_DIR"]).exists() or not list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))


def test_unreachable_smtp_still_marks_the_order_paid(client, app, pack):
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "20", "email": "x@example.com"})
    confirmed = client.post(response.headers["Location"])
    assert confirmed.status_code == 303
    assert db.session.scalar(select(Order.status)) == "paid"


def test_lost_links_mints_fresh_links_and_old_ones_keep_working(client, app, pack, smtp_server):
    controller, inbox = smtp_server
    app.config["MAIL_URL"] = f"smtp://{controller.hostname}:{controller.port}"
    _, old1 = factories.make_order(app, pack, email="fan@example.com")
    _, old2 = factories.make_order(app, pack, email="fan@example.com", amount_cents=700)
    factories.make_order(app, pack, email="fan@example.com", paid=False)
    factories.make_order(app, pack, email="other@example.com")

    response = client.post("/orders/lost", data={"email": "FAN@example.com "})
    assert response.status_code == 200
    assert wait_for(lambda: len(inbox.messages) == 1)
    body = inbox.messages[0].get_body(("plain",)).get_content()
    new_links = re.findall(r"/orders/([A-Za-z0-9_-]{43})", body)
    assert len(new_links) == 2 and old1 not in new_links and old2 not in new_links
    for token in new_links + [old1, old2]:
        assert client.get(f"/orders/{token}").status_code == 200


def test_lost_links_answers_the_same_for_unknown_addresses(client, app, pack):
    factories.make_order(app, pack, email="known@example.com")
    known = client.post("/orders/lost", data={"email": "known@example.com"})
    unknown = client.post("/orders/lost", data={"email": "unknown@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.data.replace(b"known@", b"X@") == unknown.data.replace(b"unknown@", b"X@")
    assert len(read_outbox(app)) == 1


@pytest.mark.parametrize("bad", ["", "nope", "a" * 400 + "@example.com"])
def test_lost_links_rejects_bad_addresses(client, app, bad):
    response = client.post("/orders/lost", data={"email": bad})
    assert response.status_code == 400
    assert b'class="error"' in response.data


def test_lost_links_is_rate_limited_per_address(client, app, pack):
    factories.make_order(app, pack, email="fan@example.com")
    limit = app.config["LOST_LINKS_PER_ADDRESS"]
    for _ in range(limit):
        assert client.post("/orders/lost", data={"email": "fan@example.com"}).status_code == 200
    refused = client.post("/orders/lost", data={"email": "fan@example.com"})
    assert refused.status_code == 429
    assert len(read_outbox(app)) == limit
    # Another address from the same client still works (below the per-client limit).
    assert client.post("/orders/lost", data={"email": "other@example.com"}).status_code == 200


def test_lost_links_is_rate_limited_per_client(client, app):
    limit = app.config["LOST_LINKS_PER_CLIENT"]
    for i in range(limit):
        assert client.post("/orders/lost", data={"email": f"u{i}@example.com"}).status_code == 200
    assert client.post("/orders/lost", data={"email": "new@example.com"}).status_code == 429
    other = client.post("/orders/lost", data={"email": "new@example.com"},
                        environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_rate_limit_window_slides(client, app):
    app.config["LOST_LINKS_PER_CLIENT"] = 1
    assert client.post("/orders/lost", data={"email": "a@example.com"}).status_code == 200
    assert client.post("/orders/lost", data={"email": "a@example.com"}).status_code == 429
    db.session.execute(text("UPDATE rate_limit_hits SET at = :old"), {"old": "2000-01-01 00:00:00+00:00"})
    db.session.commit()
    assert client.post("/orders/lost", data={"email": "a@example.com"}).status_code == 200
