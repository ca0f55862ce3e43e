"""The list over real SMTP: double opt-in, no enumeration, one-click unsubscribe (RFC 8058)
that stops all further mail, the checkout box, rate limits and the console."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from shop.extensions import db
from shop.mailing import announcements, subscriptions
from shop.mailing.models import Announcement, AnnouncementSend, Subscriber
from tests import factories
from tests.admin.conftest import audit_rows, csrf_token

LINK = re.compile(r"http://shop\.test(/\S+)")


def subscriber(address: str) -> Subscriber:
    db.session.expire_all()
    return db.session.scalar(select(Subscriber).where(Subscriber.email == address))


def confirm_link(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return next(path for path in LINK.findall(text) if path.startswith("/notify/confirm/"))


def unsubscribe_path(message) -> str:
    header = str(message["List-Unsubscribe"]).strip()
    assert re.fullmatch(r"<http://shop\.test/unsubscribe/\S+>", header)
    return header[len("<http://shop.test"):-1]


def join(client, inbox, address: str) -> None:
    """Ask, then confirm through the mailed link, as a person would."""
    assert client.post("/notify", data={"email": address}).status_code == 200
    path = confirm_link(inbox.to(address)[-1])
    assert client.post(path).status_code == 200


def test_double_opt_in_sends_a_confirmation_and_get_changes_nothing(client, app, pack, inbox):
    response = client.post("/notify", data={"email": "Fan@Example.com", "source": f"/packs/{pack.slug}"})
    assert response.status_code == 200 and "sent it a link to confirm" in response.get_data(as_text=True)
    row = subscriber("fan@example.com")
    assert (row.status, row.source, row.wording) == ("pending", f"/packs/{pack.slug}", subscriptions.WORDING)
    [mail] = inbox.to("fan@example.com")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_path(mail).lstrip("/") in mail.get_body(("plain",)).get_content()  # also in the body
    path = confirm_link(mail)
    page = client.get(path)
    assert page.status_code == 200 and "Yes, notify me" in page.get_data(as_text=True)
    assert subscriber("fan@example.com").status == "pending"  # a scanner's GET confirms nothing
    assert client.post(path).status_code == 200
    row = subscriber("fan@example.com")
    assert row.status == "confirmed" and row.confirmed_at is not None
    assert client.get(path[:-3] + "xyz").status_code == 404  # a forged link


def test_answers_are_the_same_for_new_pending_confirmed_and_unsubscribed_addresses(client, app, pack, inbox):
    join(client, inbox, "confirmed@example.com")
    client.post("/notify", data={"email": "pending@example.com"})
    join(client, inbox, "gone@example.com")
    client.post(unsubscribe_path(inbox.to("gone@example.com")[-1]), data={"List-Unsubscribe": "One-Click"})
    before = len(inbox.to("confirmed@example.com"))
    pages = {}
    for address in ("new@example.com", "pending@example.com", "confirmed@example.com", "gone@example.com"):
        response = client.post("/notify", data={"email": address})
        assert response.status_code == 200
        pages[address] = response.get_data(as_text=True).replace(address, "ADDRESS")
    assert len(set(pages.values())) == 1
    assert len(inbox.to("confirmed@example.com")) == before  # nothing new for a confirmed address
    assert subscriber("gone@example.com").status == "unsubscribed"  # asking again is not confirming


def test_one_click_unsubscribe_by_post_stops_all_further_mail(app, pack, inbox):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    for address in ("one@example.com", "two@example.com"):
        page = browser.get(f"/packs/{pack.slug}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert browser.post("/notify", data={"email": address, "csrf_token": token}).status_code == 200
        confirm_page = browser.get(confirm_link(inbox.to(address)[-1])).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', confirm_page).group(1)
        assert browser.post(confirm_link(inbox.to(address)[-1]), data={"csrf_token": token}).status_code == 200
    one_click = unsubscribe_path(inbox.to("one@example.com")[-1])
    assert app.test_client().get(one_click).status_code == 200
    assert subscriber("one@example.com").status == "confirmed"  # a GET (prefetch) unsubscribes nothing
    # The provider's POST: no cookies, no CSRF token, multipart as RFC 8058 prefers.
    provider = app.test_client()
    response = provider.post(one_click, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data")
    assert response.status_code == 200 and "Location" not in response.headers
    assert subscriber("one@example.com").status == "unsubscribed"
    assert subscriber("one@example.com").unsubscribe_method == "one-click"
    # Form-encoded (Gmail's way) works as well, and again is harmless.
    two = unsubscribe_path(inbox.to("two@example.com")[-1])
    assert provider.post(two, data="List-Unsubscribe=One-Click",
                         content_type="application/x-www-form-urlencoded").status_code == 200
    assert provider.post(one_click + "x", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    mailed = inbox.count()
    announcement, _ = announcements.start(pack)
    assert announcement.total == 0 and announcement.finished_at is not None
    assert inbox.count() == mailed


def test_an_old_confirmation_link_does_not_undo_an_unsubscribe_nor_does_an_import(client, app, pack, inbox, runner,
                                                                                  tmp_path):
    join(client, inbox, "fan@example.com")
    old_confirmation = confirm_link(inbox.to("fan@example.com")[0])
    client.post(unsubscribe_path(inbox.to("fan@example.com")[-1]))
    assert client.post(old_confirmation).status_code == 410
    assert subscriber("fan@example.com").status == "unsubscribed"
    listing = tmp_path / "old-list.txt"
    listing.write_text("FAN@example.com\nnew@example.com\nnot an address\n")
    result = runner.invoke(args=["mailing", "import", str(listing)])
    assert "1 added, 1 already on file (unchanged), 1 not addresses" in result.output
    assert subscriber("fan@example.com").status == "unsubscribed"
    announcement, _ = announcements.start(pack)
    sends = set(db.session.scalars(select(AnnouncementSend.subscriber_id)))
    assert sends == {subscriber("new@example.com").id}
    assert announcement.total == 1
    # Asking again and confirming the new link is the way back.
    client.post("/notify", data={"email": "fan@example.com"})
    assert client.post(confirm_link(inbox.to("fan@example.com")[-1])).status_code == 200
    assert subscriber("fan@example.com").status == "confirmed"


def test_the_form_is_rate_limited(client, app, pack, inbox):
    app.config["NOTIFY_PER_ADDRESS"] = 2
    for _ in range(2):
        assert client.post("/notify", data={"email": "fan@example.com"}).status_code == 200
    assert client.post("/notify", data={"email": "fan@example.com"}).status_code == 429
    assert len(inbox.to("fan@example.com")) == 2
    app.config["NOTIFY_PER_CLIENT"] = 4  # three requests from this client so far
    assert client.post("/notify", data={"email": "other@example.com"}).status_code == 200
    assert client.post("/notify", data={"email": "third@example.com"}).status_code == 429
    assert client.post("/notify", data={"email": "not an address"}).status_code == 400


def test_checkout_box_is_unticked_and_asks_for_confirmation_when_ticked(client, app, pack, inbox):
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    box = re.search(r'<input id="notify-opt-in"[^>]*>', page).group(0)
    assert "checked" not in box
    client.post(f"/packs/{pack.slug}/buy", data={"amount": "12", "email": "quiet@example.com"})
    assert subscriber("quiet@example.com") is None
    client.post(f"/packs/{pack.slug}/buy", data={"amount": "12", "email": "keen@example.com", "notify": "yes"})
    row = subscriber("keen@example.com")
    assert row.status == "pending" and row.source == f"checkout /packs/{pack.slug}"
    assert any("/notify/confirm/" in m.get_body(("plain",)).get_content() for m in inbox.to("keen@example.com"))


def test_every_pack_page_and_the_order_page_have_the_form(client, app, pack, ended_pack, paid_order):
    coming = factories.make_pack(app, slug="coming-pack", starts_in=timedelta(days=3))
    for slug in (pack.slug, ended_pack.slug, coming.slug):
        assert 'action="/notify"' in client.get(f"/packs/{slug}").get_data(as_text=True)
    _, token = paid_order
    page = client.get(f"/orders/{token}").get_data(as_text=True)
    assert 'action="/notify"' in page and token not in re.search(r'name="source" value="([^"]*)"', page).group(1)


def test_console_shows_the_list_exports_it_and_announces_with_audit(admin_client, app, pack, inbox, client):
    join(client, inbox, "a@example.com")
    client.post("/notify", data={"email": "b@example.com"})
    page = admin_client.get("/admin/list").get_data(as_text=True)
    assert 'data-count="confirmed">1<' in page and 'data-count="pending">1<' in page
    export = admin_client.get("/admin/list/subscribers.csv")
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [r["email"] for r in rows] == ["a@example.com"]
    app.config["REDIS_URL"] = None  # no queue here: the announcement is recorded, the sweep sends it
    token = csrf_token(admin_client, "/admin/list")
    response = admin_client.post("/admin/list/announce", data={"pack_id": pack.id, "csrf_token": token},
                                 follow_redirects=True)
    assert "queue is down" in response.get_data(as_text=True)
    assert db.session.scalar(select(Announcement.total)) == 1
    actions = [e.action for e in audit_rows()]
    assert "mailing.export" in actions and "mailing.announce" in actions
