"""Order links, the order page, receipts over real SMTP, and lost links."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import func, select, text

from shop.downloads.models import PACK_ITEM_ID, DownloadCount
from shop.dropbox.models import Delivery, delivery_target
from shop.extensions import db
from shop.formats import get_format
from shop.formatting import filesize
from shop.models import FORMATS, Order, OrderLink, RateLimitHit
from shop.order_links import hash_token
from tests import factories
from tests.services import free_port, wait_until


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


def shown(text: str) -> str:
    """``text`` as the page's templates escape it."""
    return str(escape(text))


def links_in(html: str, token: str, pack, fmt: str) -> dict[str, bool]:
    """Whether each download link of ``pack`` in ``fmt`` is on the page, by link."""
    found = {"pack": f'href="/orders/{token}/pack/{fmt}.zip" download>Download the pack</a>' in html}
    for album in pack.albums:
        found[f"album {album.id}"] = f'href="/orders/{token}/albums/{album.id}/{fmt}.zip" download>' in html
        for track in album.tracks:
            link = f'<a class="track-title" href="/orders/{token}/tracks/{track.id}/{fmt}" download>'
            found[f"track {track.id}"] = f"{link}{shown(track.title)}</a>" in html
    return found


def format_cookie(response) -> str | None:
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith("shop_format=")), None)


def test_order_page_is_read_only_and_lists_downloads_and_dropbox(client, app, pack):
    app.config.update(DROPBOX_APP_KEY="key", DROPBOX_APP_SECRET="secret")
    order, token = factories.make_order(app, pack)
    before = [tuple(r) for t in db.metadata.sorted_tables for r in db.session.execute(t.select())]
    for fmt in FORMATS:
        response = client.get(f"/orders/{token}?format={fmt}")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "private, no-store"
        html = response.data.decode()
        # Every link in the chosen format, none in any other.
        assert all(links_in(html, token, pack, fmt).values()), links_in(html, token, pack, fmt)
        for other in FORMATS:
            if other != fmt:
                assert f"/{other}.zip" not in html and f"/{other}\"" not in html, other
        label = get_format(fmt).label
        assert f'<span class="muted">{label} zip · ' in html
        assert f"Play a track, or download it alone as {label} by its title." in html
        # The one format choice lists every format the pack has, the chosen one selected.
        assert '<form class="format-choice" method="get">' in html
        assert '<label for="format">Format</label>' in html and '<select id="format" name="format">' in html
        choice = html.split('<select id="format" name="format">')[1].split("</select>")[0]
        options = re.findall(r'<option value="([^"]+)"( selected)?>([^<]*) · ([^<]*)</option>', choice)
        # Each format with the size of everything in it.
        assert [(value, text) for value, _, text, _ in options] == [
            (f, shown(get_format(f).description)) for f in FORMATS]
        assert all(re.fullmatch(r"[0-9.]+ (B|KB|MB|GB)", size) for *_, size in options), options
        assert [value for value, selected, *_ in options if selected] == [fmt]
        assert '<button class="button format-show" type="submit">Show</button>' in html
        assert html.count("Download the album</a>") == len(pack.albums)
        for album in pack.albums:
            assert f"/orders/{token}/dropbox/albums/{album.id}" in html
        # One Dropbox entry point per album and one for the pack: no separate "Connect" button.
        assert f"/orders/{token}/dropbox/connect" not in html
        assert html.count(f'action="/orders/{token}/dropbox/pack"') == 1
        assert 'role="alert"' not in html
    db.session.expire_all()
    after = [tuple(r) for t in db.metadata.sorted_tables for r in db.session.execute(t.select())]
    assert before == after


def test_the_format_asked_for_is_remembered_in_a_cookie(client, app, pack):
    _, token = factories.make_order(app, pack)
    _, other_token = factories.make_order(app, pack, email="other@example.com")
    response = client.get(f"/orders/{token}?format=flac")
    assert response.status_code == 200
    cookie = format_cookie(response)
    assert cookie is not None and cookie.startswith("shop_format=flac;")
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert attributes["path"] == "Path=/orders"
    assert attributes["samesite"] == "SameSite=Lax"
    assert attributes["max-age"] == f"Max-Age={365 * 24 * 60 * 60}"
    assert "httponly" in attributes and "secure" not in attributes  # SESSION_COOKIE_SECURE is off in tests

    # Without ?format=: the remembered format, on this order and on the buyer's others; nothing set again.
    for page_token in (token, other_token):
        again = client.get(f"/orders/{page_token}")
        assert again.status_code == 200 and format_cookie(again) is None
        html = again.data.decode()
        assert all(links_in(html, page_token, pack, "flac").values())
        assert not any(links_in(html, page_token, pack, "mp3-v0").values())
        assert '<option value="flac" selected>' in html


def test_the_format_cookie_is_secure_when_the_session_cookie_is(client, app, pack):
    app.config["SESSION_COOKIE_SECURE"] = True
    _, token = factories.make_order(app, pack)
    cookie = format_cookie(client.get(f"/orders/{token}?format=wav"))
    assert cookie is not None and "; Secure" in cookie


def test_an_old_format_alias_means_the_current_format(client, app, pack):
    _, token = factories.make_order(app, pack)
    response = client.get(f"/orders/{token}?format=mp3")
    assert response.status_code == 200
    assert format_cookie(response).startswith("shop_format=mp3-v0;")
    html = response.data.decode()
    assert all(links_in(html, token, pack, "mp3-v0").values())
    assert "/pack/mp3.zip" not in html


def test_the_first_format_parameter_wins(client, app, pack):
    _, token = factories.make_order(app, pack)
    response = client.get(f"/orders/{token}?format=wav&format=flac")
    assert response.status_code == 200
    assert format_cookie(response).startswith("shop_format=wav;")
    html = response.data.decode()
    assert all(links_in(html, token, pack, "wav").values()) and not any(links_in(html, token, pack, "flac").values())


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("ogg", "ogg"),
        ("x" * 500, "x" * 40 + "…"),
        ("FLAC", "FLAC"),  # ids are lower case
        ("\"'&", "&#34;&#39;&amp;"),
    ],
)
def test_an_unknown_format_is_a_400_with_a_notice_and_no_cookie(client, app, pack, asked, expected):
    _, token = factories.make_order(app, pack)
    response = client.get(f"/orders/{token}", query_string={"format": asked})
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "private, no-store"
    assert format_cookie(response) is None
    html = response.data.decode()
    assert f'<p class="notice" role="alert">There is no format called “{expected}”; showing MP3 V0.</p>' in html
    assert asked not in html or asked == expected
    assert all(links_in(html, token, pack, "mp3-v0").values())


def test_an_unknown_format_falls_back_to_the_remembered_one(client, app, pack):
    _, token = factories.make_order(app, pack)
    client.get(f"/orders/{token}?format=opus")
    response = client.get(f"/orders/{token}?format=vorbis")
    assert response.status_code == 400 and format_cookie(response) is None
    html = response.data.decode()
    assert "There is no format called “vorbis”; showing Opus.</p>" in html
    assert all(links_in(html, token, pack, "opus").values())


def test_an_empty_format_parameter_counts_as_none(client, app, pack):
    _, token = factories.make_order(app, pack)
    response = client.get(f"/orders/{token}?format=")
    assert response.status_code == 200 and format_cookie(response) is None
    assert all(links_in(response.data.decode(), token, pack, "mp3-v0").values())


@pytest.mark.parametrize("value", ["bogus", "<b>", "x" * 300, "mp3-v0;flac"])
def test_an_unknown_format_cookie_is_ignored(client, app, pack, value):
    _, token = factories.make_order(app, pack)
    client.set_cookie("shop_format", value, path="/orders")
    response = client.get(f"/orders/{token}")
    assert response.status_code == 200 and format_cookie(response) is None
    html = response.data.decode()
    assert 'role="alert"' not in html
    assert all(links_in(html, token, pack, "mp3-v0").values())


def test_a_format_the_pack_lacks_falls_back_to_its_first_format(client, app):
    pack = factories.make_pack(app, slug="lossless-pack", formats=("wav", "flac"))
    _, token = factories.make_order(app, pack)
    html = client.get(f"/orders/{token}").data.decode()
    assert all(links_in(html, token, pack, "flac").values())  # FLAC comes before WAV
    choice = html.split('<select id="format" name="format">')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]+)"', choice) == ["flac", "wav"]
    # Asked for by name, a format this pack lacks is still the buyer's choice for other packs.
    response = client.get(f"/orders/{token}?format=aac")
    assert response.status_code == 200 and format_cookie(response).startswith("shop_format=aac;")
    assert all(links_in(response.data.decode(), token, pack, "flac").values())


def test_an_album_without_files_in_the_format_says_so(client, app, pack):
    _, token = factories.make_order(app, pack)
    lacking = pack.albums[1]
    for track in lacking.tracks:
        db.session.delete(track.file("flac"))
    db.session.commit()
    html = client.get(f"/orders/{token}?format=flac").data.decode()
    found = links_in(html, token, pack, "flac")
    assert found.pop(f"album {lacking.id}") is False
    assert [key for key, present in found.items() if not present] == [f"track {t.id}" for t in lacking.tracks]
    assert html.count('<p class="muted">No files in this format yet.</p>') == 1
    for track in lacking.tracks:
        assert f'<span class="track-title">{shown(track.title)}</span>' in html


def test_the_dropbox_forms_deliver_in_the_page_format(client, app, pack):
    """One format choice for the page: the downloads and both kinds of Add to Dropbox follow it
    (a delivery in another format still shows its own progress)."""
    app.config.update(DROPBOX_APP_KEY="key", DROPBOX_APP_SECRET="secret")
    order, token = factories.make_order(app, pack)
    delivered, other = pack.albums
    db.session.add(Delivery(order_id=order.id, target=delivery_target(delivered.id), format="flac", status="done"))
    db.session.commit()
    html = client.get(f"/orders/{token}?format=opus").data.decode()
    select = html.split('<select id="format" name="format">')[1].split("</select>")[0]
    assert len(re.findall(r"<option ", select)) == len(FORMATS)
    assert re.findall(r'<option value="([^"]+)" selected>', select) == ["opus"]
    forms = re.findall(r'<form class="dropbox-form" method="post" action="([^"]+)">(.*?)</form>', html, re.S)
    assert [action for action, _ in forms] == [f"/orders/{token}/dropbox/pack"] + [
        f"/orders/{token}/dropbox/albums/{album.id}" for album in (delivered, other)]
    for _, body in forms:
        assert '<input type="hidden" name="format" value="opus">' in body and "<select" not in body
        assert " as Opus</button>" in body
    assert f"Add to Dropbox<span class=\"visually-hidden\">: {shown(other.title)},</span> as Opus" in html


def test_download_counts_show_beside_their_own_format_only(client, app, pack):
    order, token = factories.make_order(app, pack)
    album = pack.albums[0]
    track = album.tracks[0]
    db.session.add_all([
        DownloadCount(order_id=order.id, kind="pack", item_id=PACK_ITEM_ID, format="flac", count=2),
        DownloadCount(order_id=order.id, kind="album", item_id=album.id, format="mp3-v0", count=1),
        DownloadCount(order_id=order.id, kind="track", item_id=track.id, format="opus", count=3),
    ])
    db.session.commit()
    pack_count = 'Download the pack</a> <span class="muted">FLAC zip · '
    flac = client.get(f"/orders/{token}?format=flac").data.decode()
    assert re.search(re.escape(pack_count) + r'[^<]+</span> <span class="count">downloaded 2×</span>', flac)
    assert flac.count('<span class="count">') == 1
    mp3 = client.get(f"/orders/{token}?format=mp3-v0").data.decode()
    section = mp3.split(f'aria-labelledby="album-{album.id}"')[1].split("</section>")[0]
    assert re.search(r'Download the album</a> <span class="muted">MP3 V0 zip · [^<]+</span> '
                     r'<span class="count">downloaded 1×</span>', section)
    assert mp3.count('<span class="count">') == 1
    opus = client.get(f"/orders/{token}?format=opus").data.decode()
    assert (f'/tracks/{track.id}/opus" download>{shown(track.title)}</a> <span class="count">×3</span>'
            in opus)
    assert opus.count('<span class="count">') == 1


def test_pending_and_refunded_orders_show_no_downloads(client, app, pack):
    _, pending = factories.make_order(app, pack, paid=False)
    html = client.get(f"/orders/{pending}").data.decode()
    assert "Waiting for your payment" in html and ".zip" not in html
    order, refunded = factories.make_order(app, pack, email="r@example.com")
    order.status = "refunded"
    db.session.commit()
    html = client.get(f"/orders/{refunded}").data.decode()
    assert "refunded" in html and ".zip" not in html
    # Without downloads, the page has no format to choose: ?format= changes nothing.
    for token in (pending, refunded):
        for asked in ("flac", "nope"):
            response = client.get(f"/orders/{token}?format={asked}")
            assert response.status_code == 200 and format_cookie(response) is None
            html = response.data.decode()
            assert 'class="format-choice"' not in html and 'role="alert"' not in html
            assert "<audio" not in html and "/listen/" not in html  # nothing to play either


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


def test_receipt_over_real_smtp(client, app, pack, smtp_server):
    controller, inbox = smtp_server
    app.config["MAIL_URL"] = f"smtp://{controller.hostname}:{controller.port}"
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "20", "email": "smtp@example.com"})
    client.post(response.headers["Location"])
    assert wait_until(lambda: len(inbox.messages) == 1)
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
    assert wait_until(lambda: len(inbox.messages) == 1)
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


# --- SMTP down during "lost links" (security review L7) ---------------------------------------


def test_lost_link_when_smtp_is_down_is_a_503_and_not_counted(client, app, pack):
    app.config["MAIL_URL"] = "smtp://127.0.0.1:1"
    app.config["LOST_LINKS_PER_ADDRESS"] = 1
    factories.make_order(app, pack, email="fan@example.com")
    for _ in range(3):
        response = client.post("/orders/lost", data={"email": "fan@example.com"})
        assert response.status_code == 503
        assert b"We could not send mail just now" in response.data
        assert response.headers.get("Retry-After")
    assert db.session.scalar(select(func.count(RateLimitHit.id))) == 0


def test_lost_link_to_an_unknown_address_answers_the_same_when_smtp_is_down(client, app, pack):
    app.config["MAIL_URL"] = "smtp://127.0.0.1:1"
    response = client.post("/orders/lost", data={"email": "nobody@example.com"})
    assert response.status_code == 200


@pytest.mark.parametrize("asked", ["flac\x00", "../flac", "fl\u0430c", "%", " flac", "mp3-v0\r\nSet-Cookie: x=1",
                                   "\ud800".encode("utf-8", "surrogatepass").decode("latin-1")])
def test_hostile_format_values_are_a_clear_400_never_a_500(client, app, pack, asked):
    app.config.update(DROPBOX_APP_KEY="key", DROPBOX_APP_SECRET="secret")
    _, token = factories.make_order(app, pack)
    response = client.get(f"/orders/{token}", query_string={"format": asked})
    assert response.status_code == 400
    assert format_cookie(response) is None and "x=1" not in str(response.headers)
    html = response.data.decode()
    assert "There is no format called" in html
    assert all(links_in(html, token, pack, "mp3-v0").values())
    # Also on an order with nothing to download yet: ignored, the page shows as usual.
    _, pending = factories.make_order(app, pack, paid=False, email="pending@example.com")
    assert client.get(f"/orders/{pending}", query_string={"format": asked}).status_code == 200


def test_the_format_is_chosen_once_above_every_download(client, app, pack):
    """The format panel comes before the player, the pack's and albums' downloads and every
    Add to Dropbox; the sizes shown are those of the chosen format."""
    app.config.update(DROPBOX_APP_KEY="key", DROPBOX_APP_SECRET="secret")
    order, token = factories.make_order(app, pack)
    html = client.get(f"/orders/{token}?format=flac").data.decode()
    choice = html.index('<form class="format-choice" method="get">')
    assert html.count('<form class="format-choice"') == 1
    assert html.count('<select id="format"') == 1
    for marker in ("<audio", " download>", 'class="dropbox-form"', f"/orders/{token}/pack/flac.zip"):
        assert choice < html.index(marker), marker
    sizes = {fmt: sum(t.file(fmt).size for a in pack.albums for t in a.tracks) for fmt in FORMATS}
    assert html.count("FLAC zip · ") == 1 + len(pack.albums)
    option = re.search(r'<option value="flac" selected>[^<]* · ([^<]+)</option>', html).group(1)
    pack_size = re.search(r'FLAC zip · ([^<]+)</span>', html).group(1)
    assert option == pack_size
    assert pack_size == filesize(sizes["flac"])
