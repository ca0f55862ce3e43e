"""The factory, settings, security headers, CSRF and error pages."""

from __future__ import annotations

import re

import pytest

from shop import create_app
from shop.config import ConfigError, load_settings
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
    from sqlalchemy import func, select
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
