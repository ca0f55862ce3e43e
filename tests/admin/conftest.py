"""Fixtures for the operator console: an operator, and a client logged in as them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from shop.admin import operators
from shop.extensions import db
from shop.models import Pack, utcnow

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fresh_login_per_request(app):
    """Flask-Login caches the user on ``g``; the suite's ``app`` fixture keeps one app context
    open across requests (a server pushes one per request), so drop the cache per request."""
    from flask import g

    @app.before_request
    def forget_cached_user() -> None:
        g.pop("_login_user", None)


@pytest.fixture
def operator(app):
    return operators.create("Ops@Example.com", PASSWORD)


@pytest.fixture
def admin_client(app, operator):
    """A test client with an operator session (logged in through the real form)."""
    client = app.test_client()
    response = client.post("/admin/login", data={"email": operator.email, "password": PASSWORD})
    assert response.status_code == 302, response.data
    return client


def csrf_token(client, path: str = "/admin/login") -> str:
    page = client.get(path).data.decode()
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def audit_rows():
    from shop.admin.models import AuditEvent

    db.session.expire_all()
    return db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id)).all()


@pytest.fixture
def redis_app(app, redis_server):
    """``app`` talking to a real, empty Redis."""
    app.config["REDIS_URL"] = redis_server.url
    app.extensions.pop("shop.redis", None)
    from shop.queue import get_redis

    get_redis(app).flushdb()
    yield app
    app.extensions.pop("shop.redis", None)


@pytest.fixture
def redis_down(app):
    """``app`` whose Redis is a closed port."""
    from tests.services import free_port

    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    app.extensions.pop("shop.redis", None)
    yield app
    app.extensions.pop("shop.redis", None)


# --- A pack made through the console's form ----------------------------------------------------


def when(delta: timedelta) -> str:
    return (utcnow() + delta).strftime("%Y-%m-%dT%H:%M")


def pack_form(**changes: str) -> dict[str, str]:
    form = {"title": "Autumn Pack", "slug": "autumn-2026", "blurb": "Four albums.",
            "starts_at": when(timedelta(days=1)), "ends_at": when(timedelta(days=15)), "currency": "EUR",
            "min_price": "2.00", "suggested_price": "9.50"}
    form.update(changes)
    return form


@pytest.fixture
def new_pack(app, admin_client) -> Pack:
    response = admin_client.post("/admin/packs/new", data=pack_form())
    assert response.status_code == 303, response.data
    return db.session.scalar(db.select(Pack).where(Pack.slug == "autumn-2026"))
