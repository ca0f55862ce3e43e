"""Logging in and out, the rate limits, TOTP and the console's own session cookie."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp

from shop.admin import operators
from shop.admin.models import Operator
from shop.crypto import get_token_box
from shop.extensions import db
from tests.admin.conftest import PASSWORD, audit_rows


def login(client, email, password, code="", **kwargs):
    return client.post("/admin/login", data={"email": email, "password": password, "code": code}, **kwargs)


def test_login_page_and_success(client, operator):
    page = client.get("/admin/login")
    assert page.status_code == 200 and b'name="password"' in page.data
    response = login(client, "OPS@example.com", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    db.session.expire_all()
    assert db.session.get(Operator, operator.id).last_login_at is not None
    assert [e.action for e in audit_rows()] == ["login"]


def test_unknown_account_and_wrong_password_get_the_same_answer(client, operator):
    wrong = login(client, operator.email, "wrong password here")
    unknown = login(client, "nobody@example.com", "wrong password here")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: r.data.replace(b"nobody@example.com", b"X").replace(operator.email.encode(), b"X")  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert client.get("/admin/").status_code == 302
    assert [e.action for e in audit_rows()] == ["login.failed", "login.failed"]


def test_unknown_accounts_cost_a_password_hash(client, operator, monkeypatch):
    """Both answers pay one password check of the same kind and cost (counted, not timed: a
    ratio of two timings fails on a busy machine)."""
    real_check = operators.check_password_hash
    paid: list[str] = []

    def counted(pwhash: str, password: str) -> bool:
        paid.append(pwhash.split("$", 1)[0])  # the method and its parameters, e.g. scrypt:32768:8:1
        return real_check(pwhash, password)

    monkeypatch.setattr(operators, "check_password_hash", counted)
    login(client, operator.email, "wrong password here")
    known, paid[:] = list(paid), []
    login(client, "nobody@example.com", "wrong password here")
    unknown = list(paid)
    assert known == unknown and len(known) == 1 and known[0].startswith("scrypt:")  # both pay scrypt


def test_disabled_operator_cannot_log_in_and_loses_the_session(app, admin_client, operator):
    operators.set_disabled(operator.email)
    assert admin_client.get("/admin/").status_code == 302
    assert login(app.test_client(), operator.email, PASSWORD).status_code == 401


def test_rate_limit_per_client_address(client, operator):
    for i in range(20):
        assert login(client, f"user{i}@example.com", "wrong password here").status_code == 401
    assert login(client, operator.email, PASSWORD).status_code == 429
    other = login(client, operator.email, PASSWORD, environ_base={"REMOTE_ADDR": "10.2.2.2"})
    assert other.status_code == 302


def test_totp_right_wrong_and_replayed_codes(app, client, operator, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    secret, uri = operators.enable_totp(operator.email)
    assert uri.startswith("otpauth://totp/") and secret in uri
    db.session.expire_all()
    stored = db.session.get(Operator, operator.id)
    assert secret not in stored.totp_secret_enc and get_token_box().decrypt(stored.totp_secret_enc) == secret
    assert login(client, operator.email, PASSWORD).status_code == 401  # code missing
    assert login(client, operator.email, PASSWORD, "000000" if pyotp.TOTP(secret).now() != "000000"
                 else "111111").status_code == 401
    code = pyotp.TOTP(secret).now()
    assert login(client, operator.email, PASSWORD, code).status_code == 302
    client.post("/admin/logout")
    assert login(client, operator.email, PASSWORD, code).status_code == 401  # replay refused
    operators.disable_totp(operator.email)
    time_machine.shift(60)  # three failures above: past the account's short wait (test_login_throttling)
    assert login(client, operator.email, PASSWORD).status_code == 302


def test_logout_is_a_post(admin_client):
    assert admin_client.get("/admin/logout").status_code == 405
    response = admin_client.post("/admin/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert admin_client.get("/admin/").status_code == 302
    assert [e.action for e in audit_rows()][-1] == "logout"


def test_admin_cookie_is_separate_from_the_buyer_cookie(app, client, operator, pack):
    response = login(client, operator.email, PASSWORD)
    cookies = response.headers.getlist("Set-Cookie")
    admin = [c for c in cookies if c.startswith("shop_admin=")]
    assert len(admin) == 1 and "Path=/admin" in admin[0] and "HttpOnly" in admin[0] and "SameSite=Strict" in admin[0]
    assert not any(c.startswith("shop_session=") for c in cookies)
    assert client.get_cookie("shop_admin", path="/admin") is not None
    # Buyer pages never receive the admin cookie, and their own cookie is not a console login.
    buyer = app.test_client()
    buyer.get(f"/packs/{pack.slug}")
    buyer_cookie = buyer.get_cookie("shop_session")
    assert buyer_cookie is not None
    assert buyer.get("/admin/").status_code == 302
    # A buyer cookie's value pasted into shop_admin does not verify either.
    forged = app.test_client()
    forged.set_cookie("shop_admin", buyer_cookie.value, path="/admin")
    assert forged.get("/admin/").status_code == 302


def test_next_is_followed_only_to_console_pages(client, operator):
    assert client.get("/admin/orders?q=x").headers["Location"] == "/admin/login?next=/admin/orders?q%3Dx"
    ok = client.post("/admin/login?next=/admin/orders", data={"email": operator.email, "password": PASSWORD})
    assert ok.headers["Location"] == "/admin/orders"
    client.post("/admin/logout")
    for bad in ("https://evil.example/admin/", "//evil.example/admin/", "/admin/../packs/x", "/\\evil.example",
                "/admin/login", "/packs/spring-pack"):
        response = client.post("/admin/login", query_string={"next": bad},
                               data={"email": operator.email, "password": PASSWORD})
        assert response.headers["Location"] == "/admin/", bad
        client.post("/admin/logout")


def test_json_clients_get_401(client):
    response = client.get("/admin/", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.json["status"] == 401


def test_rotate_keys_is_a_top_level_command_and_keeps_operators_signing_in(app, runner, operator):
    """``flask rotate-keys`` (the ground-floor command; ``flask dropbox rotate-keys`` is its alias)."""
    from cryptography.fernet import Fernet

    from shop.crypto import TokenBox

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["TOKEN_KEYS"] = old_key
    app.extensions.pop("shop.token_box", None)
    secret, _ = operators.enable_totp(operator.email)
    app.config["TOKEN_KEYS"] = f"{new_key},{old_key}"
    app.extensions.pop("shop.token_box", None)
    result = runner.invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "operators: 1" in result.output
    db.session.expire_all()
    assert TokenBox.from_setting(new_key).decrypt(db.session.get(Operator, operator.id).totp_secret_enc) == secret
