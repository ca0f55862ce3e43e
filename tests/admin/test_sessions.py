"""Console sessions end when they should, copied cookies included (review finding M1).

A copy of the ``shop_admin`` cookie taken while logged in is replayed from another client
after each event that must end the session. Time is moved with a controlled clock
(:func:`clock`), never by sleeping.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from sqlalchemy import select

from emulator_common import ServerThread
from shop.admin import operators
from shop.extensions import db
from shop.models import Pack
from tests.admin.conftest import PASSWORD, audit_rows


def copy_of(client):
    """Another client carrying the same console cookie: what a thief would hold."""
    value = client.get_cookie("shop_admin", path="/admin").value
    thief = client.application.test_client()
    thief.set_cookie("shop_admin", value, path="/admin")
    return thief


def logged_in(client) -> bool:
    response = client.get("/admin/orders")
    assert response.status_code in (200, 302)
    return response.status_code == 200


class Clock:
    """``time.time`` under the test's control from the moment it is made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = time.time()
        monkeypatch.setattr(time, "time", lambda: self.now)

    def advance(self, *, minutes: float = 0, hours: float = 0) -> None:
        self.now += minutes * 60 + hours * 3600


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def test_a_copied_cookie_is_dead_after_logout(app, admin_client):
    thief = copy_of(admin_client)
    assert logged_in(thief)
    assert admin_client.post("/admin/logout").status_code == 303
    assert not logged_in(thief)
    assert thief.get("/admin/packs/1/orders.csv").status_code == 302
    assert thief.post("/admin/grants", data={"pack_id": 1, "email": "thief@example.com"}).status_code == 302
    assert [e.action for e in audit_rows()] == ["login", "logout"]


def test_logout_ends_the_operators_other_sessions_too(app, operator, admin_client):
    laptop = app.test_client()
    assert laptop.post("/admin/login", data={"email": operator.email, "password": PASSWORD}).status_code == 302
    admin_client.post("/admin/logout")
    assert not logged_in(laptop)
    # A new login works as before, and is not ended by the old one's copy.
    assert laptop.post("/admin/login", data={"email": operator.email, "password": PASSWORD}).status_code == 302
    assert logged_in(laptop)


def test_a_copied_cookie_is_dead_after_disable_and_stays_dead_after_enable(app, operator, admin_client):
    thief = copy_of(admin_client)
    operators.set_disabled(operator.email)
    assert not logged_in(thief) and not logged_in(admin_client)
    operators.set_disabled(operator.email, disabled=False)
    assert not logged_in(thief) and not logged_in(admin_client)


@pytest.mark.parametrize("change", ["totp on", "totp off", "password"])
def test_a_copied_cookie_is_dead_after_a_totp_or_password_change(app, runner, operator, admin_client, change):
    if change == "totp off":
        operators.enable_totp(operator.email)
        import pyotp

        from shop.crypto import get_token_box

        secret = get_token_box().decrypt(operator.totp_secret_enc)
        admin_client.post("/admin/login", data={"email": operator.email, "password": PASSWORD,
                                                "code": pyotp.TOTP(secret).now()})
    thief = copy_of(admin_client)
    assert logged_in(thief)
    args = {"totp on": ["totp", operator.email], "totp off": ["totp", operator.email, "--disable"],
            "password": ["password", operator.email]}[change]
    result = runner.invoke(args=["operators", *args], input="another long password\n")
    assert result.exit_code == 0, result.output
    assert not logged_in(thief) and not logged_in(admin_client)


def test_a_new_password_works_and_the_old_one_does_not(app, runner, operator):
    result = runner.invoke(args=["operators", "password", operator.email], input="another long password\n")
    assert result.exit_code == 0 and "password changed" in result.output
    client = app.test_client()
    assert client.post("/admin/login", data={"email": operator.email, "password": PASSWORD}).status_code == 401
    assert client.post("/admin/login", data={"email": operator.email,
                                             "password": "another long password"}).status_code == 302
    short = runner.invoke(args=["operators", "password", operator.email], input="short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output


def test_an_idle_session_ends_after_the_idle_limit(app, operator, clock):
    client = app.test_client()
    client.post("/admin/login", data={"email": operator.email, "password": PASSWORD})
    for _ in range(4):  # used every 25 minutes: alive for well over the idle limit
        clock.advance(minutes=25)
        assert logged_in(client)
    thief = copy_of(client)
    clock.advance(minutes=31)
    assert not logged_in(client) and not logged_in(thief)


def test_the_idle_limit_is_a_setting(app, operator, clock):
    app.config["ADMIN_IDLE_MINUTES"] = 5
    client = app.test_client()
    client.post("/admin/login", data={"email": operator.email, "password": PASSWORD})
    clock.advance(minutes=4)
    assert logged_in(client)
    clock.advance(minutes=6)
    assert not logged_in(client)


def test_a_busy_session_ends_at_its_absolute_lifetime(app, operator, clock):
    client = app.test_client()
    client.post("/admin/login", data={"email": operator.email, "password": PASSWORD})
    for _ in range(12 * 3 - 1):  # every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert logged_in(client)
    clock.advance(minutes=21)  # 12 h 01 min after the login, 21 minutes after the last use
    assert not logged_in(client)


def test_the_lifetime_is_a_setting_and_counts_from_the_login(app, operator, clock):
    app.config["ADMIN_SESSION_HOURS"] = 1
    client = app.test_client()
    client.post("/admin/login", data={"email": operator.email, "password": PASSWORD})
    for _ in range(5):
        clock.advance(minutes=10)
        assert logged_in(client)
    clock.advance(minutes=11)  # 61 minutes after the login, 11 after the last use
    assert not logged_in(client)
    # Logging in again starts a new lifetime.
    client.post("/admin/login", data={"email": operator.email, "password": PASSWORD})
    assert logged_in(client)


def test_a_session_without_a_version_is_no_login(app, operator, admin_client):
    """A cookie made before versions existed (``_user_id`` is the bare id) no longer opens the console."""
    with admin_client.session_transaction("/admin/") as stored:
        stored["_user_id"] = str(operator.id)
    assert not logged_in(admin_client)


def test_the_reviews_reproduction_over_http(served_app):
    """M1 as the review ran it with curl: a real server, CSRF on, the cookie copied from the jar."""
    app = served_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        operators.create("op@example.com", PASSWORD)
        pack_id = db.session.scalar(select(Pack.id))
    server = ServerThread(app).start()

    def token(page: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    try:
        base, jar = server.base_url, requests.Session()
        logged_in_now = jar.post(f"{base}/admin/login", allow_redirects=False, data={
            "csrf_token": token(jar.get(f"{base}/admin/login").text), "email": "op@example.com", "password": PASSWORD})
        assert logged_in_now.status_code == 302
        csrf = token(jar.get(f"{base}/admin/orders").text)
        stolen = jar.cookies.get("shop_admin")
        assert jar.post(f"{base}/admin/logout", data={"csrf_token": csrf}, allow_redirects=False).status_code == 303
        replay = {"cookies": {"shop_admin": stolen}, "allow_redirects": False}
        assert requests.get(f"{base}/admin/orders", **replay).status_code == 302
        assert requests.get(f"{base}/admin/packs/{pack_id}/orders.csv", **replay).status_code == 302
        granted = requests.post(f"{base}/admin/grants", **replay,
                                data={"csrf_token": csrf, "pack_id": pack_id, "email": "thief@example.com"})
        assert granted.status_code == 302 and granted.headers["Location"].startswith("/admin/login")
    finally:
        server.stop()
