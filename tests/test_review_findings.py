"""Reproductions of the November 2026 security review's findings (M1, L1, L3, L7, L8, L10),
and of the architecture review's factory, settings and naming items."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from shop import create_app
from shop.extensions import db
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


# --- L3: ids beyond PostgreSQL's INTEGER are 404, never 500 ------------------------------------


@pytest.mark.parametrize("path", [
    "/packs/{slug}/albums/99999999999999999999/cover",
    "/packs/{slug}/tracks/99999999999999999999/preview.mp3",
    "/orders/{token}/tracks/99999999999999999999/mp3",
    "/orders/{token}/albums/99999999999999999999/mp3.zip",
    "/orders/{token}/dropbox/deliveries/99999999999999999999",
    "/orders/{token}/albums/2147483648/mp3.zip",
    "/orders/{token}/albums/0/mp3.zip",
])
def test_out_of_range_ids_are_404_not_500(client, app, pack, path):
    _, token = factories.make_order(app, pack)
    assert client.get(path.format(slug=pack.slug, token=token)).status_code == 404


def test_the_largest_integer_id_is_still_routed(client, app, pack):
    _, token = factories.make_order(app, pack)
    assert client.get(f"/orders/{token}/albums/2147483647/mp3.zip").status_code == 404
    assert client.get(f"/orders/{token}/albums/{pack.albums[0].id}/mp3.zip").status_code == 200


# --- Payments naming ---------------------------------------------------------------------------


def test_the_fake_checkout_is_named_fake_and_production_code_has_no_test_functions(app):
    from flask import url_for

    with app.test_request_context():
        assert url_for("payments.fake_checkout", ref="r") == "/checkout/test/r"
        assert url_for("payments.fake_confirm", ref="r") == "/checkout/test/r"
    shop = Path(__file__).resolve().parent.parent / "shop"
    offenders = [str(p) for p in shop.rglob("*.py") if re.search(r"^\s*def test_", p.read_text(), re.M)]
    assert offenders == []
