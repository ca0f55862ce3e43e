"""Gifts over real SMTP: the giver's receipt without the music, the recipient's own link on
its day (once), the giver's page and resend, refunds, lost links, and the form's checks."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from shop.extensions import db
from shop.gifts.models import Gift
from shop.gifts.service import send_due
from shop.models import Order, utcnow
from shop.orders.service import mark_refunded
from tests.admin.conftest import audit_rows, csrf_token

ORDER_LINK = re.compile(r"http://shop\.test(/orders/[A-Za-z0-9_-]{43})")




def give(client, pack, send_on: str = "", message: str = "Happy birthday!\n<3", **extra):
    data = {"amount": "12.00", "email": "giver@example.com", "gift": "yes", "recipient_email": "Friend@Example.com",
            "gift_message": message, "send_on": send_on, **extra}
    response = client.post(f"/packs/{pack.slug}/buy", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return client.post(response.headers["Location"])  # the test provider's confirm


def body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def gift_row() -> Gift:
    db.session.expire_all()
    return db.session.scalar(select(Gift))


def test_a_gift_for_now_mails_the_recipient_their_link_and_the_giver_no_music(client, app, pack, inbox):
    back = give(client, pack)
    # The giver's browser lands on the gift's page, not on the music.
    assert back.status_code == 303 and back.headers["Location"].startswith("/gifts/")
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert 'data-gift-state="delivered"' in page and not re.search(r"/orders/[A-Za-z0-9_-]{43}", page)
    [receipt] = inbox.to("giver@example.com")
    assert not ORDER_LINK.search(body(receipt)) and "/gifts/" in body(receipt)
    [gift_mail] = inbox.to("friend@example.com")
    assert "Happy birthday!\n<3" in body(gift_mail)
    assert "Happy birthday!\r\n&lt;3" in gift_mail.get_body(("html",)).get_content()  # plain text, escaped
    link = ORDER_LINK.search(body(gift_mail)).group(1)
    assert client.get(link).status_code == 200
    # Lost links: the recipient's address finds the gift; the giver's does not get the music.
    assert client.post("/orders/lost", data={"email": "friend@example.com"}).status_code == 200
    assert ORDER_LINK.search(body(inbox.to("friend@example.com")[-1]))
    assert client.post("/orders/lost", data={"email": "giver@example.com"}).status_code == 200
    assert len(inbox.to("giver@example.com")) == 1


@pytest.mark.postgresql
def test_a_gift_for_tomorrow_goes_out_on_its_day_once(client, app, pack, inbox):
    tomorrow = (utcnow() + timedelta(days=1)).date()
    give(client, pack, send_on=tomorrow.isoformat())
    assert inbox.to("friend@example.com") == []
    assert "Goes out" in client.get(gift_page(inbox)).get_data(as_text=True)
    assert send_due() == 0
    the_day = utcnow() + timedelta(days=1)
    assert send_due(now=the_day) == 1
    assert send_due(now=the_day + timedelta(hours=1)) == 0
    assert len(inbox.to("friend@example.com")) == 1
    assert gift_row().sent_at is not None and gift_row().sends == 1


def gift_page(inbox) -> str:
    return re.search(r"http://shop\.test(/gifts/\S+)", body(inbox.to("giver@example.com")[-1])).group(1)


def test_the_giver_resends_and_a_refund_closes_the_recipients_links(client, app, pack, inbox):
    give(client, pack)
    page = gift_page(inbox)
    first = ORDER_LINK.search(body(inbox.to("friend@example.com")[0])).group(1)
    assert client.post(f"{page}/resend").status_code == 303
    assert len(inbox.to("friend@example.com")) == 2
    second = ORDER_LINK.search(body(inbox.to("friend@example.com")[1])).group(1)
    assert first != second and client.get(second).status_code == 200
    for _ in range(2):
        client.post(f"{page}/resend")
    assert client.post(f"{page}/resend").status_code == 429
    mark_refunded(gift_row().order_id)
    assert 'data-state="refunded"' in client.get(first).get_data(as_text=True)
    assert client.get(f"/orders/{first.rsplit('/', 1)[1]}/pack/flac.zip").status_code == 404
    assert 'data-gift-state="closed"' in client.get(page).get_data(as_text=True)
    assert client.get(page[:-2] + "xx").status_code == 404


@pytest.mark.parametrize("fields, error", [
    ({"send_on": (date.today() + timedelta(days=91)).isoformat()}, "between today and 90 days"),
    ({"send_on": (date.today() - timedelta(days=2)).isoformat()}, "between today and 90 days"),
    ({"send_on": "next friday"}, "YYYY-MM-DD"),
    ({"gift_message": "x" * 501}, "at most 500 characters"),
    ({"recipient_email": "not an address"}, ""),
])
def test_bad_gift_fields_are_form_errors_and_write_nothing(client, app, pack, fields, error):
    data = {"amount": "12.00", "email": "giver@example.com", "gift": "yes", "recipient_email": "friend@example.com",
            **fields}
    response = client.post(f"/packs/{pack.slug}/buy", data=data)
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_console_shows_the_gift_and_resends_it_audited(admin_client, client, app, pack, inbox):
    give(client, pack)
    order_id = gift_row().order_id
    page = admin_client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert 'id="gift"' in page and "friend@example.com" in page
    token = csrf_token(admin_client, f"/admin/orders/{order_id}")
    assert admin_client.post(f"/admin/orders/{order_id}/resend-gift", data={"csrf_token": token}).status_code == 303
    assert len(inbox.to("friend@example.com")) == 2
    assert audit_rows()[-1].action == "gift.resend"
    # The order's own receipt actions never hand the giver the music.
    refused = admin_client.post(f"/admin/orders/{order_id}/resend-receipt", data={"csrf_token": token},
                                follow_redirects=True)
    assert "is a gift" in refused.get_data(as_text=True)
    assert admin_client.post(f"/admin/orders/{order_id}/replace-links", data={"csrf_token": token}).status_code == 303
    assert len(inbox.to("giver@example.com")) == 1  # the receipt, nothing since
    newest = ORDER_LINK.search(body(inbox.to("friend@example.com")[-1])).group(1)
    assert len(inbox.to("friend@example.com")) == 3 and client.get(newest).status_code == 200


def test_the_givers_resends_are_in_the_console_audit_log_with_the_consoles(admin_client, client, app, pack, inbox):
    tomorrow = (utcnow() + timedelta(days=1)).date()
    give(client, pack, send_on=tomorrow.isoformat())
    page = gift_page(inbox)
    client.post(f"{page}/resend")  # not delivered yet: nothing sent, nothing recorded
    assert [r for r in audit_rows() if r.action == "gift.resend"] == []
    # The day comes (the clock, moved: the delivery time put in the past).
    db.session.execute(update(Gift).values(deliver_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert send_due() == 1
    order_id = gift_row().order_id

    assert client.post(f"{page}/resend", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 303
    token = csrf_token(admin_client, f"/admin/orders/{order_id}")
    assert admin_client.post(f"/admin/orders/{order_id}/resend-gift", data={"csrf_token": token}).status_code == 303
    assert len(inbox.to("friend@example.com")) == 3
    giver, console = [r for r in audit_rows() if r.action == "gift.resend"]
    assert (giver.operator_id, giver.target, giver.ip) == (None, f"order:{order_id}", "198.51.100.7")
    assert giver.details == {"recipient": "friend@example.com", "by": "giver"}
    assert console.operator_id is not None and console.target == f"order:{order_id}"

    log = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "the giver (gift page)" in log and log.count(f"order:{order_id}") >= 2
    for _ in range(2):  # the hour's other two resends, each recorded
        assert client.post(f"{page}/resend").status_code == 303
    assert client.post(f"{page}/resend").status_code == 429  # over the limit: refused, not recorded
    assert len([r for r in audit_rows() if r.action == "gift.resend"]) == 4
    assert len(inbox.to("friend@example.com")) == 5
