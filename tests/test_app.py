"""The factory, settings (and the README's table of them), the base URL and the hosts the store
answers to, ids in URLs, security headers, CSRF and error pages."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from shop import create_app
from shop.config import ConfigError, load_settings
from shop.extensions import db
from tests import factories


def test_settings_are_read_as_strings_not_json():
    values = load_settings({"SHOP_SECRET_KEY": "12345", "SHOP_MAX_AMOUNT_CENTS": "500", "SHOP_TRUST_PROXY": "yes"})
    assert values["SECRET_KEY"] == "12345"
    assert values["MAX_AMOUNT_CENTS"] == 500
    assert values["TRUST_PROXY"] is True


def test_malformed_setting_names_itself():
    with pytest.raises(ConfigError, match="SHOP_MAX_AMOUNT_CENTS"):
        load_settings({"SHOP_MAX_AMOUNT_CENTS": "lots"})


def test_production_refuses_to_start_without_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SHOP_BASE_URL", "https://music.example")
    monkeypatch.delenv("SHOP_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SHOP_SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    monkeypatch.setenv("SHOP_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("SHOP_DROPBOX_APP_KEY", "key")
    with pytest.raises(ConfigError, match="SHOP_DROPBOX_APP_SECRET.*SHOP_TOKEN_KEYS"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})


def test_production_has_no_test_payments_and_secure_cookies(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SHOP_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("SHOP_BASE_URL", "https://music.example")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["PAYMENT_PROVIDER"] is None
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_production_refuses_the_test_payment_provider(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SHOP_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("SHOP_BASE_URL", "https://music.example")
    monkeypatch.setenv("SHOP_PAYMENT_PROVIDER", "test")
    with pytest.raises(ConfigError, match="SHOP_PAYMENT_PROVIDER"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})


def test_unknown_env_is_refused(monkeypatch):
    monkeypatch.setenv("SHOP_ENV", "staging")
    with pytest.raises(ConfigError, match="SHOP_ENV"):
        create_app()


def test_security_headers(client, pack):
    response = client.get(f"/packs/{pack.slug}")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    # No inline script anywhere: every <script> has a src.
    assert not re.search(rb"<script(?![^>]*\bsrc=)", response.data)
    assert b" onclick=" not in response.data and b"style=" not in response.data


def test_every_template_is_free_of_inline_script():
    from pathlib import Path

    for path in Path("shop/templates").rglob("*.html"):
        if "/mail/" in str(path):
            continue  # e-mail bodies are not served under our CSP
        source = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), path
        assert not re.search(r"\son[a-z]+=", source), path
        assert "style=" not in source, path


@pytest.fixture
def csrf_client(app_config):
    app_config["WTF_CSRF_ENABLED"] = True
    app = create_app(app_config)
    from shop.extensions import db

    with app.app_context():
        db.create_all()
        pack = factories.make_pack(app)
        yield app, app.test_client(), pack
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_posts_without_csrf_token_are_refused(csrf_client):
    app, client, pack = csrf_client
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "a@example.com"})
    assert response.status_code == 400
    assert b"form has expired" in response.data
    assert client.post("/orders/lost", data={"email": "a@example.com"}).status_code == 400


def test_posts_with_csrf_token_work(csrf_client):
    app, client, pack = csrf_client
    page = client.get(f"/packs/{pack.slug}").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/packs/{pack.slug}/buy",
                           data={"amount": "10", "email": "a@example.com", "csrf_token": token})
    assert response.status_code == 303


def test_errors_are_html_for_browsers_and_json_for_json_clients(client, app):
    html = client.get("/nowhere", headers={"Accept": "text/html"})
    assert html.status_code == 404 and html.mimetype == "text/html"
    as_json = client.get("/nowhere", headers={"Accept": "application/json"})
    assert as_json.status_code == 404 and as_json.json["status"] == 404
    method = client.delete("/")
    assert method.status_code == 405 and "GET" in method.headers["Allow"]


def test_unexpected_error_is_a_500_page_and_rolls_back(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    assert b"kaboom" not in response.data
    assert client.get("/boom", headers={"Accept": "application/json"}).json["status"] == 500


def test_oversized_form_is_413(client, pack):
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "1", "email": "x" * 100_000})
    assert response.status_code == 413


def test_development_secrets_are_shared_by_every_process_of_an_installation(app_config, tmp_path):
    from shop.config import instance_secret
    from shop.crypto import get_token_box

    one = instance_secret(str(tmp_path), "dev_secret_key", lambda: "a" * 64)
    two = instance_secret(str(tmp_path), "dev_secret_key", lambda: "b" * 64)
    assert one == two == "a" * 64
    assert oct((tmp_path / "dev_secret_key").stat().st_mode & 0o777) == "0o600"

    first, second = create_app({**app_config, "TOKEN_KEYS": None}), create_app({**app_config, "TOKEN_KEYS": None})
    first.instance_path = second.instance_path = str(tmp_path)
    box_one, box_two = get_token_box(first), get_token_box(second)
    assert box_two.decrypt(box_one.encrypt("refresh-token")) == "refresh-token"


def test_a_pack_is_on_sale_for_two_weeks_by_default(app):
    from datetime import UTC, datetime, timedelta

    from shop.extensions import db
    from shop.models import Pack

    start = datetime(2030, 1, 1, 12, tzinfo=UTC)
    pack = Pack(slug="default-window", title="Default window", starts_at=start)
    db.session.add(pack)
    db.session.commit()
    db.session.refresh(pack)
    assert pack.ends_at == start + timedelta(days=14)
    assert pack.currency == "USD" and pack.min_price_cents <= pack.suggested_price_cents


def test_foreign_keys_are_enforced_and_cascade_on_every_backend(app, pack):
    from sqlalchemy.exc import IntegrityError

    from shop.extensions import db
    from shop.models import OrderLink

    order, _ = factories.make_order(app, pack)
    db.session.delete(order)
    db.session.commit()
    assert db.session.scalar(select(func.count(OrderLink.id))) == 0
    db.session.add(OrderLink(order_id=999_999, token_hash="0" * 64))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


# --- The Host header never decides where mail links point (security review M1) -----------------


def last_mail(app: Flask) -> str:
    path = sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))[-1]
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return msg.get_body(("plain",)).get_content() + msg.get_body(("html",)).get_content()


@pytest.fixture
def build_app(app_config: dict) -> Iterator[Callable[..., Flask]]:
    """Build an app with extra settings (read at creation, e.g. TRUST_PROXY), tables created."""
    made: list[tuple[Flask, Any]] = []

    def build(**overrides: Any) -> Flask:
        built = create_app({**app_config, **overrides})
        context = built.app_context()
        context.push()
        db.create_all()
        made.append((built, context))
        return built

    yield build
    for _, context in reversed(made):
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
        context.pop()


def production_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"ENV": "production", "SECRET_KEY": "s" * 40, "BASE_URL": "https://music.example",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/prod.db", **extra}


@pytest.mark.parametrize("trust_proxy, headers", [
    (False, {"Host": "attacker.example"}),
    (True, {"X-Forwarded-Host": "attacker.example"}),
    (True, {"Host": "attacker.example", "X-Forwarded-Host": "attacker2.example"}),
], ids=["forged-host", "forwarded-host-behind-proxy", "both"])
def test_lost_link_mail_names_only_the_base_url_host(build_app, trust_proxy, headers):
    app = build_app(TRUST_PROXY=trust_proxy, BASE_URL="https://music.example")
    pack = factories.make_pack(app)
    factories.make_order(app, pack, email="fan@example.com")
    response = app.test_client().post("/orders/lost", data={"email": "fan@example.com"}, headers=headers)
    assert response.status_code == 200
    mail = last_mail(app)
    assert "attacker" not in mail
    assert re.search(r"https://music\.example/orders/[A-Za-z0-9_-]{43}", mail)
    assert set(re.findall(r"https?://([^/\s\"'<>]+)/orders/", mail)) == {"music.example"}


def test_without_base_url_development_uses_its_default_never_the_request_host(build_app):
    app = build_app(ENV="development", BASE_URL=None)
    pack = factories.make_pack(app)
    factories.make_order(app, pack, email="fan@example.com")
    response = app.test_client().post("/orders/lost", data={"email": "fan@example.com"},
                                      headers={"Host": "attacker.example"})
    assert response.status_code == 200
    mail = last_mail(app)
    assert "attacker.example" not in mail
    assert "http://127.0.0.1:8000/orders/" in mail


def test_production_refuses_to_start_without_base_url(tmp_path):
    with pytest.raises(ConfigError, match="SHOP_BASE_URL"):
        create_app(production_config(tmp_path, BASE_URL=None))


def test_the_proxy_is_trusted_for_client_address_and_scheme_but_not_host(build_app):
    app = build_app(TRUST_PROXY=True)

    @app.get("/__echo")
    def echo() -> dict[str, Any]:
        from flask import request

        return {"host": request.host, "scheme": request.scheme, "remote": request.remote_addr}

    seen = app.test_client().get("/__echo", headers={
        "Host": "music.example", "X-Forwarded-Host": "attacker.example",
        "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}).json
    assert seen == {"host": "music.example", "scheme": "https", "remote": "203.0.113.9"}


def test_production_answers_only_to_the_base_url_host(tmp_path):
    app = create_app(production_config(tmp_path))
    client = app.test_client()
    assert client.get("/orders/lost", base_url="https://music.example").status_code == 200
    assert client.get("/orders/lost", base_url="https://attacker.example").status_code == 400


# --- Ids beyond PostgreSQL's INTEGER are 404, never 500 (security review L3) ---------------------


@pytest.mark.parametrize("path", [
    "/packs/{slug}/albums/99999999999999999999/cover",
    "/packs/{slug}/tracks/99999999999999999999/preview.mp3",
    "/orders/{token}/tracks/99999999999999999999/mp3-v0",
    "/orders/{token}/albums/99999999999999999999/mp3-v0.zip",
    "/orders/{token}/dropbox/deliveries/99999999999999999999",
    "/orders/{token}/albums/2147483648/mp3-v0.zip",
    "/orders/{token}/albums/0/mp3-v0.zip",
])
def test_out_of_range_ids_are_404_not_500(client, app, pack, path):
    _, token = factories.make_order(app, pack)
    assert client.get(path.format(slug=pack.slug, token=token)).status_code == 404


def test_the_largest_integer_id_is_still_routed(client, app, pack):
    _, token = factories.make_order(app, pack)
    assert client.get(f"/orders/{token}/albums/2147483647/mp3-v0.zip").status_code == 404
    assert client.get(f"/orders/{token}/albums/{pack.albums[0].id}/mp3-v0.zip").status_code == 200


# --- Settings: one table, printed by `flask settings`, is the README's ---------------------------


README_TABLE = re.compile(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", re.S)


def test_readme_settings_table_is_what_flask_settings_prints(runner):
    result = runner.invoke(args=["settings"])
    assert result.exit_code == 0, result.output
    readme = Path(__file__).resolve().parent.parent / "README.md"
    match = README_TABLE.search(readme.read_text())
    assert match, "README.md needs <!-- settings:start --> / <!-- settings:end --> around the table"
    assert match.group(1) == result.output


def test_every_setting_has_help_and_dropbox_timeout_is_declared():
    from shop.config import SETTINGS

    names = {s.name for s in SETTINGS}
    assert {"DROPBOX_TIMEOUT", "BUYS_PER_CLIENT", "BASE_URL"} <= names
    assert all(s.help for s in SETTINGS)


def test_dropbox_timeout_must_stay_below_half_the_stale_limit(app_config):
    with pytest.raises(ConfigError, match="SHOP_DROPBOX_TIMEOUT"):
        create_app({**app_config, "DROPBOX_TIMEOUT": 30, "DELIVERY_STALE_SECONDS": 45})
    built = create_app({**app_config, "DROPBOX_TIMEOUT": 20, "DELIVERY_STALE_SECONDS": 45})
    assert built.config["DROPBOX_TIMEOUT"] == 20


# --- Factory precedence ------------------------------------------------------------------------


def test_test_config_comes_last(app_config):
    built = create_app({**app_config, "SESSION_COOKIE_SECURE": True, "MAX_CONTENT_LENGTH": 10,
                        "SESSION_COOKIE_NAME": "other", "WTF_CSRF_ENABLED": True})
    assert built.config["SESSION_COOKIE_SECURE"] is True
    assert built.config["MAX_CONTENT_LENGTH"] == 10
    assert built.config["SESSION_COOKIE_NAME"] == "other"
    assert built.config["WTF_CSRF_ENABLED"] is True
