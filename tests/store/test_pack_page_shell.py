"""The pack page of a pack on sale is rendered once per process and catalog version
(shop.store.pack_page.pack_page_shell); what differs per view (the CSRF token, the stats) is
filled in on every view. These tests are the promise that no view sees another's."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from shop.extensions import db
from shop.formatting import money
from shop.models import Order
from shop.store.pack_page import SLOTS
from tests import factories

TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
THRESHOLD_FIELD = re.compile(r'name="threshold" value="[^"]+"')


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": True}


def stat(html: str, name: str) -> str:
    match = re.search(rf'data-stat="{name}"[^>]*>([^<]*)<', html)
    assert match, name
    return match.group(1)


@pytest.fixture
def served(served_app: Callable[..., Flask]) -> Flask:
    """Requests in their own app contexts: the ``app`` fixture's one context would share ``g``,
    where Flask-WTF keeps a view's token."""
    return served_app(WTF_CSRF_ENABLED=True)


def test_each_visitor_gets_their_own_working_token(served: Flask) -> None:
    first, second = served.test_client(), served.test_client()
    first_page = first.get("/packs/spring-pack").get_data(as_text=True)
    second_page = second.get("/packs/spring-pack").get_data(as_text=True)
    first_token, second_token = TOKEN_FIELD.findall(first_page), TOKEN_FIELD.findall(second_page)
    # One token per page (the buy form and the list's form carry the same), one per visitor.
    assert len(set(first_token)) == len(set(second_token)) == 1 and first_token[0] != second_token[0]
    for page in (first_page, second_page):
        assert not any(slot in page for slot in SLOTS.values())
        assert "@@shop-slot" not in page
    # Each token buys with its own session, and not with the other's.
    swapped = first.post("/packs/spring-pack/buy", data={"amount": "12.00", "email": "a@example.com",
                                                         "csrf_token": second_token[0]})
    assert swapped.status_code == 400
    bought = first.post("/packs/spring-pack/buy", data={"amount": "12.00", "email": "a@example.com",
                                                        "csrf_token": first_token[0]})
    assert bought.status_code in (302, 303), bought.status_code


def test_the_stats_are_fresh_on_every_view(app: Flask, pack: Any) -> None:
    client = app.test_client()
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert (stat(page, "purchases"), stat(page, "average")) == ("0", "–")
    factories.make_order(app, pack, amount_cents=700)
    factories.make_order(app, pack, email="b@example.com", amount_cents=1300)
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert (stat(page, "purchases"), stat(page, "average"), stat(page, "total")) == (
        "2", money(1000, pack.currency), money(2000, pack.currency))
    db.session.query(Order).delete()
    db.session.commit()
    assert stat(client.get(f"/packs/{pack.slug}").get_data(as_text=True), "purchases") == "0"


def test_the_cached_page_is_the_rendered_page(app: Flask, pack: Any) -> None:
    """Apart from indentation, the cached page is what the template renders for that view."""
    client = app.test_client()
    cached = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    token = TOKEN_FIELD.search(cached)
    assert token
    with app.test_request_context():
        from flask import render_template

        from shop.models import utcnow
        from shop.store.pack_page import catalog_html, default_form, get_pack_and_state, pack_lineup, stats_shown

        pack_row, state, stats = get_pack_and_state(pack.slug)
        now = utcnow()
        lineup = pack_lineup(pack_row, state, now)
        fresh = render_template("store/pack.html", pack=pack_row, catalog=catalog_html(pack_row, state, now),
                                on_sale=True, preparing=False, stats=stats_shown(pack_row, stats), lineup=lineup,
                                form=default_form(pack_row, lineup), errors={}, now=now,
                                csrf_token=lambda: token.group(1))

    def words(html: str) -> list[str]:
        # The signed threshold carries the second it was signed in: the one part that may differ.
        return THRESHOLD_FIELD.sub('name="threshold" value="…"', html).split()

    assert words(cached) == words(fresh)
    assert len(cached) < len(fresh)  # without the indentation


def test_flashed_messages_and_form_errors_are_never_cached(app: Flask, pack: Any) -> None:
    client = app.test_client()
    client.get(f"/packs/{pack.slug}")
    with client.session_transaction() as session:
        session["_flashes"] = [("message", "Your checkout was cancelled <b>safely</b>.")]
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert "Your checkout was cancelled &lt;b&gt;safely&lt;/b&gt;." in page
    assert "cancelled" not in client.get(f"/packs/{pack.slug}").get_data(as_text=True)  # shown once
    token = TOKEN_FIELD.search(page)
    assert token
    refused = client.post(f"/packs/{pack.slug}/buy", data={"amount": "0.01", "email": "x@example.com",
                                                          "csrf_token": token.group(1)})
    assert refused.status_code == 400
    assert 'value="0.01"' in refused.get_data(as_text=True)
    # The next plain view is the cached page again, with an empty form.
    again = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert 'value="0.01"' not in again and 'value="12.00"' in again


def test_an_ended_pack_is_cached_without_its_buy_form(app: Flask, ended_pack: Any) -> None:
    client = app.test_client()
    for _ in range(2):
        page = client.get(f"/packs/{ended_pack.slug}").get_data(as_text=True)
        assert "the pack is no longer on sale." in page and 'class="buy-form"' not in page
        # Only the list's form, whose token comes through the slot like the buy form's.
        assert 'class="notify-form"' in page and len(TOKEN_FIELD.findall(page)) == 1
