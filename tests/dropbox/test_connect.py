"""Connecting a buyer's Dropbox with the real OAuth web flow against the emulator."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from shop.crypto import TokenBox
from shop.dropbox.models import Delivery, DropboxConnection
from shop.extensions import db
from shop.models import OrderLink, utcnow
from shop.order_links import find_order
from tests import factories
from tests.dropbox.conftest import APP_KEY, BUYER_EMAIL, connect_buyer
from tests.services import RedisServer


@pytest.fixture
def order(app, seeded_pack):
    return factories.make_order(app, seeded_pack, email=BUYER_EMAIL)


def consent(authorize_url: str, decision: str = "allow", email: str = BUYER_EMAIL) -> str:
    """Press a button on the emulator's consent page; returns where it redirects."""
    parts = urlsplit(authorize_url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    response = requests.post(f"{parts.scheme}://{parts.netloc}{parts.path}",
                             data={**params, "email": email, "decision": decision},
                             allow_redirects=False, timeout=10)
    assert response.status_code in (302, 303), response.text
    return response.headers["Location"]


def start(client, token) -> str:
    """Press Connect on the order page (a POST; GET starts nothing)."""
    response = client.post(f"/orders/{token}/dropbox/connect")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "/oauth2/authorize?" in location and "token_access_type=offline" in location
    return location


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/dropbox/callback"
    return f"{parts.path}?{parts.query}"


def test_connect_allow_stores_encrypted_tokens_and_shows_the_account(client, app, order, emulator_server):
    order, token = order
    location = start(client, token)
    scopes = parse_qs(urlsplit(location).query)["scope"][0].split()
    assert sorted(scopes) == ["account_info.read", "files.content.write", "files.metadata.read"]
    back = client.get(callback_path(consent(location)))
    assert back.status_code == 303 and back.headers["Location"].endswith("#dropbox")
    # Back through a fresh link of the same order: the cookie kept the link's id, not its token.
    fresh = back.headers["Location"].split("/orders/", 1)[1].split("#", 1)[0]
    assert fresh != token and find_order(fresh).id == order.id

    connection = db.session.scalar(select(DropboxConnection))
    assert connection.order_id == order.id and connection.account_email == BUYER_EMAIL
    box = TokenBox.from_setting(app.config["TOKEN_KEYS"])
    refresh = box.decrypt(connection.refresh_token_enc)
    access = box.decrypt(connection.access_token_enc)
    # Neither token is stored in the clear anywhere in the database.
    dump = "\n".join(str(v) for t in db.metadata.sorted_tables for r in db.session.execute(t.select()) for v in r)
    assert refresh not in dump and access not in dump
    assert connection.access_token_expires_at is not None

    page = client.get(f"/orders/{token}").data.decode()
    assert "connected as <strong>b•••@example.com</strong>" in page  # BUYER_EMAIL, masked


def session_cookie(app, client) -> dict:
    """The buyer's session as anyone holding the cookie can read it (signed, not encrypted):
    base64 of JSON, zlib-compressed when it starts with a dot."""
    import base64
    import zlib

    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    payload = cookie.value.lstrip(".").split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(data) if cookie.value.startswith(".") else data)


def test_the_connect_cookie_keeps_the_link_id_never_the_token(client, app, order):
    """Review 2026-12 L10: the raw order token sat in the signed cookie until the callback."""
    order, token = order
    start(client, token)
    raw = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    decoded = session_cookie(app, client)
    assert token not in raw and token not in json.dumps(decoded)
    link = db.session.scalar(select(OrderLink).where(OrderLink.order_id == order.id))
    assert decoded["dropbox_connect"]["link_id"] == link.id
    assert "order_token" not in decoded["dropbox_connect"]


def test_a_link_revoked_during_connect_connects_nothing(client, app, order):
    order, token = order
    location = consent(start(client, token))
    db.session.execute(update(OrderLink).values(revoked_at=utcnow()))
    db.session.commit()
    assert client.get(callback_path(location)).status_code == 404
    assert db.session.scalar(select(DropboxConnection)) is None


def test_deny_gets_a_clear_page_and_stores_nothing(client, order):
    order, token = order
    back = client.get(callback_path(consent(start(client, token), decision="deny")))
    assert back.status_code == 200 and b"You chose not to connect Dropbox" in back.data
    assert db.session.scalar(select(DropboxConnection)) is None


def test_state_from_another_browser_is_refused(client, app, order):
    order, token = order
    location = consent(start(client, token))
    stranger = app.test_client()
    response = stranger.get(callback_path(location))
    assert response.status_code == 400 and b"start again" in response.data.lower()
    assert db.session.scalar(select(DropboxConnection)) is None


def test_tampered_state_is_refused(client, order):
    order, token = order
    location = consent(start(client, token))
    path = callback_path(location).replace("state=", "state=XX")
    response = client.get(path)
    assert response.status_code in (400, 403)
    assert db.session.scalar(select(DropboxConnection)) is None


def test_reused_code_gets_a_clear_page(client, order):
    order, token = order
    location = consent(start(client, token))
    assert client.get(callback_path(location)).status_code == 303
    # Same code again, with a fresh state so the CSRF check passes: Dropbox refuses the code.
    start(client, token)
    with client.session_transaction() as session:
        csrf = session["dropbox-auth-csrf-token"]
        nonce = session["dropbox_connect"]["nonce"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    from urllib.parse import quote

    replay = client.get(f"/dropbox/callback?code={code}&state={quote(csrf + '|' + nonce)}")
    assert replay.status_code == 400 and b"expired or was already used" in replay.data


@pytest.mark.parametrize("query", ["", "?state=abc", "?code=x", "?error=server_error&state=abc"])
def test_malformed_callbacks_are_clear_errors(client, order, query):
    order, token = order
    start(client, token)
    response = client.get(f"/dropbox/callback{query}")
    assert response.status_code in (400, 403)


def test_connect_needs_a_paid_order(client, app, seeded_pack):
    _, pending = factories.make_order(app, seeded_pack, paid=False, email="p@example.com")
    assert client.post(f"/orders/{pending}/dropbox/connect").status_code == 404
    assert client.post("/orders/nonsense/dropbox/connect").status_code == 404
    assert client.get("/orders/nonsense/dropbox/connect").status_code == 404


def test_one_click_connects_then_starts_the_delivery(client, order, seeded_pack):
    order, token = order
    album = seeded_pack.albums[0]
    first = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"})
    assert first.status_code == 303 and "/oauth2/authorize?" in first.headers["Location"]
    back = client.get(callback_path(consent(first.headers["Location"])))
    assert back.status_code == 303 and "#delivery-" in back.headers["Location"]
    delivery = db.session.scalar(select(Delivery))
    assert delivery.target == f"album:{album.id}" and delivery.format == "flac"
    assert delivery.enqueued_at is not None


def test_a_click_that_connects_first_shows_a_delivery_done_a_moment_ago(client, order, seeded_pack):
    """The callback decides as the button does: the same delivery finished minutes ago is shown
    (with its Send again button), not copied again unasked."""
    order, token = order
    album = seeded_pack.albums[0]
    first = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"})
    assert client.get(callback_path(consent(first.headers["Location"]))).status_code == 303
    done = db.session.scalar(select(Delivery))
    done.status, done.finished_at = "done", utcnow() - timedelta(minutes=2)
    db.session.commit()
    assert client.post(f"/orders/{token}/dropbox/disconnect").status_code == 303

    again = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"})
    assert again.status_code == 303 and "/oauth2/authorize?" in again.headers["Location"]
    back = client.get(callback_path(consent(again.headers["Location"])))
    assert back.status_code == 303 and back.headers["Location"].endswith(f"#delivery-{done.id}")
    assert db.session.query(Delivery).count() == 1


def test_a_click_that_connects_first_says_when_the_queue_is_down(app, client, order, seeded_pack):
    """The callback answers a queue that is down as the button does: the delivery is saved
    (it starts by itself when the queue is back) and the buyer is told so, with a 503."""
    order, token = order
    album = seeded_pack.albums[0]
    first = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"})
    outage = RedisServer().start()
    outage.stop()  # a port where Redis used to be
    app.config["REDIS_URL"] = outage.url
    app.extensions.pop("shop.redis", None)

    back = client.get(callback_path(consent(first.headers["Location"])))
    assert back.status_code == 503 and b"Try again shortly" in back.data
    delivery = db.session.scalar(select(Delivery))
    assert delivery.status == "queued" and delivery.enqueued_at is None
    assert db.session.scalar(select(DropboxConnection)) is not None


def test_disconnect_revokes_and_forgets(client, app, order, emulator):
    order, token = order
    connection = connect_buyer(order, emulator)
    refresh = TokenBox.from_setting(app.config["TOKEN_KEYS"]).decrypt(connection.refresh_token_enc)
    response = client.post(f"/orders/{token}/dropbox/disconnect")
    assert response.status_code == 303
    assert db.session.scalar(select(DropboxConnection)) is None
    # The refresh token no longer works at Dropbox.
    import dropbox
    from dropbox.exceptions import AuthError

    from dropbox_emulator.testing import RedirectingSession

    client_ = dropbox.Dropbox(oauth2_refresh_token=refresh, app_key=APP_KEY, app_secret=app.config[
        "DROPBOX_APP_SECRET"], session=RedirectingSession(app.config["DROPBOX_API_URL"]))
    with pytest.raises(AuthError):
        client_.users_get_current_account()
    # Disconnecting twice is harmless.
    assert client.post(f"/orders/{token}/dropbox/disconnect").status_code == 303


def test_rotate_keys_re_encrypts_every_token(app, runner, order, emulator):
    import pyotp

    from shop.admin import operators
    from shop.admin.models import Operator

    order, _ = order
    connection = connect_buyer(order, emulator)
    old_key = app.config["TOKEN_KEYS"]
    refresh = TokenBox.from_setting(old_key).decrypt(connection.refresh_token_enc)
    from shop.dropbox.cli import save_store_account

    save_store_account("dbid:store", "store-refresh-token")
    # Operators' TOTP secrets are kept with the same keys: rotating must not lock anyone out.
    operators.create("ops@example.com", "a long enough passphrase")
    operators.create("no-totp@example.com", "another long passphrase")
    secret, _ = operators.enable_totp("ops@example.com")

    new_key = Fernet.generate_key().decode()
    app.config["TOKEN_KEYS"] = f"{new_key},{old_key}"
    app.extensions.pop("shop.token_box", None)
    result = runner.invoke(args=["dropbox", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "dropbox_connections: 1, operators: 1, store_dropbox_account: 1 row(s)" in result.output

    db.session.expire_all()
    connection = db.session.scalar(select(DropboxConnection))
    only_new = TokenBox.from_setting(new_key)
    assert only_new.decrypt(connection.refresh_token_enc) == refresh
    assert only_new.decrypt(connection.access_token_enc)
    with pytest.raises(Exception, match="no key"):
        TokenBox.from_setting(old_key).decrypt(connection.refresh_token_enc)
    operator = db.session.scalar(select(Operator).where(Operator.email == "ops@example.com"))
    assert only_new.decrypt(operator.totp_secret_enc) == secret
    # With the old key gone, the operator still signs in with a code from their app.
    app.config["TOKEN_KEYS"] = new_key
    app.extensions.pop("shop.token_box", None)
    assert operators.accept_totp(operator, pyotp.TOTP(secret).now())

    # With an unrelated key set, nothing can be decrypted and nothing changes.
    app.config["TOKEN_KEYS"] = Fernet.generate_key().decode()
    app.extensions.pop("shop.token_box", None)
    failed = runner.invoke(args=["dropbox", "rotate-keys"])
    assert failed.exit_code != 0 and "nothing was changed" in failed.output
    db.session.expire_all()
    assert only_new.decrypt(db.session.scalar(select(DropboxConnection)).refresh_token_enc) == refresh
    assert only_new.decrypt(db.session.get(Operator, operator.id).totp_secret_enc) == secret


def test_malformed_token_keys_are_refused():
    from shop.crypto import TokenKeyError

    with pytest.raises(TokenKeyError):
        TokenBox.from_setting("not-a-key")
    with pytest.raises(TokenKeyError):
        TokenBox.from_setting(" , ")


def test_link_store_with_the_no_redirect_flow(app, runner, emulator_server):
    server, emulator = emulator_server
    app.config["DROPBOX_STORE_REFRESH_TOKEN"] = None
    import dropbox

    flow = dropbox.DropboxOAuth2FlowNoRedirect(APP_KEY, consumer_secret=app.config["DROPBOX_APP_SECRET"],
                                               token_access_type="offline")
    from dropbox_emulator.testing import emulator_authorize_url

    url = emulator_authorize_url(flow.start(), server.base_url)
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    page = requests.post(f"{parts.scheme}://{parts.netloc}{parts.path}",
                         data={**params, "email": "owner@indiepacks.test", "decision": "allow"}, timeout=10)
    assert page.status_code == 200
    import re

    code = re.search(r'<code[^>]*>([^<]+)</code>', page.text).group(1)
    result = runner.invoke(args=["dropbox", "link-store", "--code", code])
    assert result.exit_code == 0, result.output
    whoami = runner.invoke(args=["dropbox", "whoami"])
    assert "owner@indiepacks.test" in whoami.output

    bad = runner.invoke(args=["dropbox", "link-store", "--code", "wrong"])
    assert bad.exit_code != 0 and "did not accept" in bad.output


# --- Disconnect and the OAuth callback when Dropbox is unreachable (security review L2) -------------


def unreachable(*args, **kwargs):
    raise requests.exceptions.ConnectionError("Dropbox is down")


def test_disconnect_forgets_tokens_even_when_dropbox_is_unreachable(client, app, dropbox_buyer, monkeypatch):
    order, token = dropbox_buyer
    monkeypatch.setattr(requests.Session, "request", unreachable)
    assert client.post(f"/orders/{token}/dropbox/disconnect").status_code == 303
    assert db.session.query(DropboxConnection).count() == 0


def test_disconnect_revokes_with_a_short_timeout(app, dropbox_buyer, monkeypatch):
    from shop.dropbox import connections

    order, _ = dropbox_buyer
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


# --- Connecting is a CSRF-protected POST from the order page (security review L9) ----------------


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
