"""Every console URL needs an operator, every POST needs CSRF, every operator POST is audited.

The routes come from the URL map, so a route added later is checked without touching this file.
"""

from __future__ import annotations

import re

import pytest

from shop import create_app
from shop.extensions import db
from tests import factories
from tests.admin.conftest import PASSWORD, audit_rows

PUBLIC = {"admin.login"}
SAMPLE = {"int": "1", "default": "sample", "string": "sample", "path": "sample/path"}


def admin_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.") and r.endpoint not in PUBLIC]


def sample_url(rule, values: dict[str, object] | None = None) -> str:
    filled = {}
    for name, converter in rule._converters.items():
        kind = {v: k for k, v in rule.map.converters.items()}.get(type(converter), "default")
        filled[name] = (values or {}).get(name, SAMPLE.get(kind, "sample"))
    path = rule.rule
    for name, value in filled.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), path)
    return path


def test_the_console_has_routes_to_check(app):
    assert len(admin_rules(app)) >= 8


def test_every_console_url_redirects_to_the_login_page_without_a_session(app, client):
    for rule in admin_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(sample_url(rule), method=method)
            assert response.status_code == 302, (rule.rule, method)
            assert response.headers["Location"].startswith("/admin/login"), (rule.rule, method)


def test_a_buyer_session_is_no_operator(app, client, pack):
    client.get(f"/packs/{pack.slug}")
    for rule in admin_rules(app):
        if "GET" in rule.methods:
            assert client.get(sample_url(rule)).status_code == 302, rule.rule


@pytest.fixture
def csrf_app(app_config):
    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_every_console_post_without_csrf_is_refused(csrf_app):
    from shop.admin import operators

    operators.create("ops@example.com", PASSWORD)
    pack = factories.make_pack(csrf_app)
    order, _ = factories.make_order(csrf_app, pack)
    client = csrf_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").data.decode()).group(1)
    assert client.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD}).status_code == 400
    response = client.post("/admin/login", data={"email": "ops@example.com", "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 302
    posts = [r for r in csrf_app.url_map.iter_rules() if r.endpoint.startswith("admin.") and "POST" in r.methods]
    assert len(posts) >= 5
    for rule in posts:
        url = sample_url(rule, {"order_id": order.id, "pack_id": pack.id})
        response = client.post(url, data={"pack_id": pack.id, "email": "x@example.com"})
        assert response.status_code == 400, rule.rule
        assert b"form has expired" in response.data
    # The refusals changed nothing: the operator is still logged in, no order was added.
    assert client.get("/admin/").status_code == 200
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(type(order))) == 1


#: Forms that answer a refused submission with the form again (400), not a redirect.
FORM_PAGES = {"admin.pack_new", "admin.pack_edit", "admin.artist_edit", "admin.album_text_save",
              "admin.track_lyrics_save"}
# Answers with a page showing a secret once (a new statement link), not a redirect.
SHOWN_ONCE = {"admin.artist_link_new"}


def test_every_operator_post_writes_an_audit_row(app, admin_client, pack):
    from shop.codes.batches import create_batch
    from shop.dropbox.models import Delivery

    order, _ = factories.make_order(app, pack)
    delivery = Delivery(order_id=order.id, target="pack", format="flac", status="failed", error="x")
    db.session.add(delivery)
    batch = create_batch(pack, 2)
    db.session.commit()
    posts = [r for r in app.url_map.iter_rules()
             if r.endpoint.startswith("admin.") and "POST" in r.methods and r.endpoint not in PUBLIC]
    # Logout last: it ends the session.
    posts.sort(key=lambda r: r.endpoint == "admin.logout")
    for rule in posts:
        before = len(audit_rows())
        url = sample_url(rule, {"order_id": order.id, "pack_id": pack.id, "delivery_id": delivery.id,
                                "batch_id": batch.id, "album_id": pack.albums[0].id,
                                "track_id": pack.albums[0].tracks[0].id})
        response = admin_client.post(url, data={"pack_id": pack.id, "email": "gift@example.com"})
        expected = (302, 303, 400) if rule.endpoint in FORM_PAGES else (302, 303)
        if rule.endpoint in SHOWN_ONCE:
            expected = (200,)
        assert response.status_code in expected, (rule.rule, response.status_code)
        rows = audit_rows()
        assert len(rows) == before + 1, rule.rule
        assert rows[-1].operator is not None and rows[-1].operator.email == "ops@example.com"
        assert rows[-1].ip == "127.0.0.1" and rows[-1].at is not None


def test_a_refused_action_is_audited_too(app, admin_client, pack):
    order, _ = factories.make_order(app, pack, paid=False)
    response = admin_client.post(f"/admin/orders/{order.id}/resend-receipt")
    assert response.status_code == 303
    last = audit_rows()[-1]
    assert last.action == "resend_receipt.attempt" and last.target == f"/admin/orders/{order.id}/resend-receipt"


def test_audit_page_lists_events_newest_first_in_pages(app, admin_client, operator):
    from shop.admin import audit

    for i in range(audit.PAGE_SIZE + 5):
        audit.record(operator, f"test.event{i}", "t", {"n": i}, "10.0.0.1")
    db.session.commit()
    first = admin_client.get("/admin/audit").data.decode()
    assert first.index(f"test.event{audit.PAGE_SIZE + 4}") < first.index(f"test.event{audit.PAGE_SIZE}")
    assert "test.event0<" not in first and "Page 1 of 2" in first
    second = admin_client.get("/admin/audit?page=2").data.decode()
    assert "test.event0<" in second and ">login<" in second
    assert admin_client.get("/admin/audit?page=999").status_code == 200
