"""The pay box in the console: a pack's split, minimums, charity, presets and bonus album are
set before the sale; each order's amount, split and bonus are shown and exported."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest

from shop.admin import orders as admin_orders
from shop.extensions import db
from shop.models import Pack
from tests import factories
from tests.admin.test_packs import pack_form

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def pay_form(**changes: str) -> dict[str, str]:
    return pack_form(**{"split_artists": "75", "split_charity": "15", "split_store": "10", "store_min_percent": "5",
                        "charity_name": "Open Strings", "charity_min_percent": "5", "preset_amounts": "5 10.50",
                        **changes})


def test_the_pack_form_sets_the_pay_box_before_the_sale(app, admin_client, pack):
    later = factories.make_pack(app, slug="later-pack", starts_in=timedelta(days=1))
    bonus = later.albums[1]
    page = admin_client.get(f"/admin/packs/{later.id}/edit").get_data(as_text=True)
    assert 'name="split_store"' in page and 'name="bonus_album"' in page
    response = admin_client.post(f"/admin/packs/{later.id}/edit", data=pay_form(bonus_album=str(bonus.id)))
    assert response.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)<', response.get_data(as_text=True))
    db.session.expire_all()
    assert (later.split_artists, later.split_charity, later.split_store) == (75, 15, 10)
    assert (later.charity_name, later.charity_min_percent, later.store_min_percent) == ("Open Strings", 5, 5)
    assert later.preset_amounts == "500 1050"
    assert [a.is_bonus for a in later.albums] == [False, True]
    # Another album as the bonus: still one per pack.
    response = admin_client.post(f"/admin/packs/{later.id}/edit",
                                 data=pay_form(bonus_album=str(later.albums[0].id)))
    assert response.status_code == 303
    db.session.expire_all()
    assert [a.is_bonus for a in later.albums] == [True, False]
    # A pack on sale keeps its settings (the console refuses every edit).
    refused = admin_client.post(f"/admin/packs/{pack.id}/edit", data=pay_form(bonus_album=str(pack.albums[1].id)))
    assert refused.status_code == 400
    db.session.expire_all()
    assert not any(a.is_bonus for a in pack.albums) and pack.charity_name is None


BAD = {
    "sums to 99": ({"split_artists": "74"}, "split_store", "adds up to 99 %"),
    "store below its minimum": ({"split_artists": "83", "split_store": "2"}, "split_store", "below the store"),
    "charity without a name": ({"charity_name": ""}, "charity_name", "name the charity"),
    "not a percentage": ({"split_artists": "7.5"}, "split_artists", "whole percentage"),
    "bad preset": ({"preset_amounts": "5 ten"}, "preset_amounts", "not an amount"),
}


def test_bad_pay_box_settings_are_form_errors(app, admin_client):
    later = factories.make_pack(app, slug="later-pack", starts_in=timedelta(days=1))
    for changes, field, message in BAD.values():
        response = admin_client.post(f"/admin/packs/{later.id}/edit", data=pay_form(**changes))
        html = response.get_data(as_text=True)
        assert response.status_code == 400, changes
        assert re.search(rf'id="f-{field}-error">[^<]*{re.escape(message)}', html), (changes, html[-3000:])
    foreign = factories.make_pack(app, slug="foreign-pack", starts_in=timedelta(days=1))
    response = admin_client.post(f"/admin/packs/{later.id}/edit", data=pay_form(bonus_album=str(foreign.albums[0].id)))
    assert response.status_code == 400 and "choose one of this pack" in response.get_data(as_text=True)
    db.session.expire_all()
    assert later.charity_name is None and not any(a.is_bonus for a in later.albums)


def test_orders_show_and_export_amount_split_and_bonus(app, admin_client, pack: Pack):
    plain, _ = factories.make_order(app, pack, email="old@example.com", amount_cents=1000)
    chosen, _ = factories.make_order(app, pack, email="new@example.com", amount_cents=2500)
    chosen.split_artists, chosen.split_charity, chosen.split_store = 85, 0, 15
    chosen.artist_split = json.dumps([{"album_id": pack.albums[0].id, "artist": "=Evil", "percent": 60},
                                      {"album_id": pack.albums[1].id, "artist": "B", "percent": 40}])
    chosen.bonus_unlocked, chosen.bonus_threshold_cents = True, 1200
    db.session.commit()
    detail = admin_client.get(f"/admin/orders/{chosen.id}").get_data(as_text=True)
    assert "85 % artists · 0 % charity · 15 % store" in detail and "unlocked (beat $12.00)" in detail
    listing = admin_client.get("/admin/orders?q=new@example.com").get_data(as_text=True)
    assert "85/0/15 %" in listing and "unlocked" in listing
    rows = list(csv.reader(io.StringIO(admin_client.get(f"/admin/packs/{pack.id}/orders.csv").data.decode())))
    assert rows[0] == [column.header for column in admin_orders.CSV_COLUMNS]
    header = rows[0]
    old, new = (dict(zip(header, row, strict=True)) for row in rows[1:])
    assert (old["amount"], old["split_artists"], old["bonus_unlocked"]) == ("10.00", "", "no")
    assert (new["amount"], new["split_artists"], new["split_charity"], new["split_store"]) == ("25.00", "85", "0", "15")
    assert new["split_per_artist"] == "'=Evil 60; B 40" and new["bonus_unlocked"] == "yes"
    assert plain.id < chosen.id
