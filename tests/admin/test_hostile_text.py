"""Control characters and bidi overrides in what an operator types (security review L9): form
errors that say which character, nothing saved; receipts of a pack that has one still go out."""

from __future__ import annotations

import pytest

from shop.extensions import db
from shop.models import Order, Pack
from tests.admin.test_orders import outbox
from tests.admin.test_packs import pack_form
from tests.orders.test_mail_building import CRLF_TITLE, break_template


@pytest.mark.parametrize("field, value, shown", [
    ("title", CRLF_TITLE, "U+000D (CR)"),
    ("title", "Autumn\x1b[2J", "U+001B (ESC)"),
    ("title", "Autumn \u202eevil", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("title", "Autumn \u2066isolated\u2069", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ("title", "Autu\x85mn", "U+0085"),
    ("title", "Autumn\tPack", "U+0009 (TAB)"),
    ("blurb", "Four albums.\x07", "U+0007 (BEL)"),
    ("blurb", "Four \u202dalbums.", "U+202D (LEFT-TO-RIGHT OVERRIDE)"),
])
def test_control_and_bidi_characters_are_form_errors(app, admin_client, field, value, shown):
    response = admin_client.post("/admin/packs/new", data=pack_form(**{field: value}))

    assert response.status_code == 400
    html = response.data.decode()
    assert f'id="f-{field}-error"' in html and f"the {field} holds the control or direction character {shown}" in html
    assert db.session.scalar(db.select(db.func.count(Pack.id))) == 0


def test_a_blurb_keeps_its_lines_and_an_edit_is_checked_too(app, admin_client):
    created = admin_client.post("/admin/packs/new", data=pack_form(blurb="Four albums.\r\nTwo are new."))
    assert created.status_code == 303
    pack = db.session.scalar(db.select(Pack))
    assert pack.blurb == "Four albums.\r\nTwo are new."

    edited = admin_client.post(f"/admin/packs/{pack.id}/edit", data=pack_form(title=CRLF_TITLE))
    assert edited.status_code == 400 and b"U+000D (CR)" in edited.data
    db.session.refresh(pack)
    assert pack.title == "Autumn Pack"


def test_a_grant_of_a_pack_whose_title_has_a_line_break_is_mailed(app, admin_client, pack):
    pack.title = CRLF_TITLE  # stored before titles were checked
    db.session.commit()

    response = admin_client.post("/admin/grants", data={"pack_id": pack.id, "email": "gift@example.com"})

    assert response.status_code == 303
    [msg] = outbox(app)
    assert msg["Subject"] == "Your music from Autumn Bcc: someone@example.net" and msg["Bcc"] is None


def test_a_grant_whose_receipt_cannot_be_built_is_granted_and_says_so(app, admin_client, pack):
    break_template(app, "orders/mail/receipt.txt")

    response = admin_client.post("/admin/grants", data={"pack_id": pack.id, "email": "gift@example.com"},
                                 follow_redirects=True)

    assert response.status_code == 200 and b"could not be sent" in response.data
    assert db.session.scalar(db.select(Order.status)) == "paid" and outbox(app) == []
