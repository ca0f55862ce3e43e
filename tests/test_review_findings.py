"""Reproductions of the November 2026 security review's findings (M1, L1, L3, L7, L8, L10),
and of the architecture review's factory, settings and naming items."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from sqlalchemy import func, select

from shop import create_app
from shop.config import ConfigError
from shop.extensions import db
from shop.models import Order, OrderStatus, RateLimitHit
from tests import factories

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


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


# --- M1: the Host header never decides where mail links point -------------------------------


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


# --- L1: no order token, fetch token or OAuth code in the application log ----------------------


def test_a_500_under_an_order_link_does_not_log_the_token(client, app, pack, caplog, monkeypatch):
    _, token = factories.make_order(app, pack)
    import shop.orders.views as views

    monkeypatch.setattr(views, "order_page_context", lambda *a, **k: 1 / 0)
    with caplog.at_level(logging.ERROR):
        assert client.get(f"/orders/{token}").status_code == 500
    assert token not in caplog.text
    assert "/orders/<token>" in caplog.text


def test_the_log_filter_redacts_messages_args_and_exception_text():
    from shop.logs import RedactingFilter

    order_token = "zLI6-X1EZzUwbCkr6IciAu2ejB-C3CUzjf8lBejTdf0"
    fetch = "eyJmIjoyM30.awy5OA.sftZtTjOCOGz31F5GETlrL-aJbw"
    try:
        raise RuntimeError(f"failed on /orders/{order_token}/albums/1/mp3.zip")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "shop.test", logging.ERROR, __file__, 1,
        "GET %s then %s then %s", (f"/orders/{order_token}", f"/dropbox/files/{fetch}",
                                   "/dropbox/callback?code=SECRETCODE123&state=SECRETSTATE456"),
        exc_info,
    )
    assert RedactingFilter().filter(record) is True
    text = logging.Formatter("%(message)s").format(record)
    for secret in (order_token, fetch, "SECRETCODE123", "SECRETSTATE456"):
        assert secret not in text
    assert "/orders/<token>" in text and "/dropbox/files/<token>" in text
    assert "code=<redacted>" in text and "state=<redacted>" in text
    assert "RuntimeError: failed on /orders/<token>/albums/1/mp3.zip" in text


def test_the_factory_installs_the_filter_on_the_root_handlers(app_config, caplog):
    create_app(app_config)
    with caplog.at_level(logging.INFO):
        logging.getLogger("shop.anything").info("opened /orders/%s", "A" * 43)
    assert "A" * 43 not in caplog.text and "/orders/<token>" in caplog.text


# --- L3: ids beyond PostgreSQL's INTEGER are 404, never 500 ------------------------------------


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


# --- L7: SMTP down during "lost links" ----------------------------------------------------------


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


# --- L8: no raw order token in the session cookie -----------------------------------------------


def session_of(client: FlaskClient, app: Flask) -> dict[str, Any]:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return {}
    return SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie.value)


def test_the_session_cookie_never_holds_an_order_token(client, app, pack):
    bought = client.post(f"/packs/{pack.slug}/buy", data={"amount": "9", "email": "x@example.com"})
    assert not TOKEN.search(json.dumps(session_of(client, app)))
    confirmed = client.post(bought.headers["Location"])
    token = re.fullmatch(r"/orders/([A-Za-z0-9_-]{43})", confirmed.headers["Location"]).group(1)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert token not in cookie and token not in json.dumps(session_of(client, app))
    assert not TOKEN.search(json.dumps(session_of(client, app)))

    again = client.post(bought.headers["Location"])
    assert re.fullmatch(r"/orders/[A-Za-z0-9_-]{43}", again.headers["Location"])
    assert client.get(again.headers["Location"]).status_code == 200
    assert not TOKEN.search(json.dumps(session_of(client, app)))
    assert client.get(confirmed.headers["Location"]).status_code == 200


def test_reaching_the_order_page_forgets_the_checkout(client, app, pack):
    bought = client.post(f"/packs/{pack.slug}/buy", data={"amount": "9", "email": "x@example.com"})
    ref = bought.headers["Location"].rsplit("/", 1)[1]
    assert ref in json.dumps(session_of(client, app))
    confirmed = client.post(bought.headers["Location"])
    assert client.get(confirmed.headers["Location"]).status_code == 200
    assert ref not in json.dumps(session_of(client, app))
    # Someone else's browser confirming the same checkout gets no link.
    stranger = app.test_client().post(bought.headers["Location"])
    assert stranger.headers["Location"] == "/checkout/thanks"


# --- L10: one pending order per session, e-mail and pack; buying is rate-limited ----------------


def pending_orders() -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(select(Order).where(Order.status == OrderStatus.PENDING.value)))


def test_repeated_buys_reuse_one_pending_order(client, app, pack):
    for amount in range(10, 20):
        response = client.post(f"/packs/{pack.slug}/buy", data={"amount": str(amount), "email": "fan@example.com"})
        assert response.status_code == 303
    [order] = pending_orders()
    assert order.amount_cents == 1900
    assert response.headers["Location"] == f"/checkout/test/{order.payment_ref}"
    # Another address, or another browser, is another order.
    client.post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "other@example.com"})
    app.test_client().post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "fan@example.com"})
    assert len(pending_orders()) == 3


def test_a_paid_order_is_never_reused(client, app, pack):
    bought = client.post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "fan@example.com"})
    client.post(bought.headers["Location"])
    again = client.post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "fan@example.com"})
    assert again.headers["Location"] != bought.headers["Location"]
    assert len(pending_orders()) == 1


def test_concurrent_buys_from_one_session_create_one_pending_order(client, app, pack):
    assert client.get(f"/packs/{pack.slug}").status_code == 200  # the form page starts the session
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def buy() -> None:
        own = app.test_client()
        own.set_cookie(cookie.key, cookie.value)
        barrier.wait()
        statuses.append(own.post(f"/packs/{pack.slug}/buy",
                                 data={"amount": "12", "email": "fan@example.com"}).status_code)

    threads = [threading.Thread(target=buy) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303] * 10
    assert len(pending_orders()) == 1


def test_buying_is_rate_limited_per_client(client, app, pack):
    app.config["BUYS_PER_CLIENT"] = 3
    for i in range(3):
        assert client.post(f"/packs/{pack.slug}/buy",
                           data={"amount": "10", "email": f"u{i}@example.com"}).status_code == 303
    refused = client.post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "late@example.com"})
    assert refused.status_code == 429
    assert len(pending_orders()) == 3
    other = app.test_client().post(f"/packs/{pack.slug}/buy", data={"amount": "10", "email": "late@example.com"},
                                   environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 303


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


# --- Payments naming ---------------------------------------------------------------------------


def test_the_fake_checkout_is_named_fake_and_production_code_has_no_test_functions(app):
    from flask import url_for

    with app.test_request_context():
        assert url_for("payments.fake_checkout", ref="r") == "/checkout/test/r"
        assert url_for("payments.fake_confirm", ref="r") == "/checkout/test/r"
    shop = Path(__file__).resolve().parent.parent / "shop"
    offenders = [str(p) for p in shop.rglob("*.py") if re.search(r"^\s*def test_", p.read_text(), re.M)]
    assert offenders == []
