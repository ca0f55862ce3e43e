"""What the store lists: no empty packs on home; an ended pack's page shows what it held,
when it ended and the next pack instead of a price form."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import Pack
from tests import factories


def test_a_pack_with_no_albums_is_not_listed_but_answers(app: Flask, client: FlaskClient, pack: Pack) -> None:
    empty = factories.make_pack(app, slug="empty-pack", albums=())
    coming_empty = factories.make_pack(app, slug="coming-empty", albums=(), starts_in=timedelta(days=2))
    html = client.get("/").get_data(as_text=True)
    assert pack.title in html
    assert empty.title not in html and coming_empty.title not in html
    assert "coming soon" not in html.lower().split("past packs")[0].replace("a new pack is coming soon", "")
    assert client.get(f"/packs/{empty.slug}").status_code == 200


def ended_box(html: str) -> str:
    match = re.search(r'<aside class="buy-box".*?</aside>', html, re.S)
    assert match
    return match.group(0)


def test_an_ended_pack_shows_its_albums_its_dates_and_no_form(client: FlaskClient, ended_pack: Pack) -> None:
    html = client.get(f"/packs/{ended_pack.slug}").get_data(as_text=True)
    box = ended_box(html)
    assert "This pack has ended" in box and "no longer on sale" in box
    assert 'name="amount"' not in html and "$0.00" not in html and "data-stats-url" not in html
    assert "The Quiet Fires" in html and "Kindling" in html  # the albums and their tracks are still shown
    assert "See what is on sale" in box  # nothing is coming


def test_an_ended_pack_points_to_the_next_announced_pack(app: Flask, client: FlaskClient, ended_pack: Pack) -> None:
    factories.make_pack(app, slug="empty-next", albums=(), starts_in=timedelta(days=1))  # not listed: skipped
    later = factories.make_pack(app, slug="summer-pack", starts_in=timedelta(days=3))
    box = ended_box(client.get(f"/packs/{ended_pack.slug}").get_data(as_text=True))
    assert f'href="/packs/{later.slug}"' in box and "Summer Pack" in box and "on sale from" in box
    sooner = factories.make_pack(app, slug="autumn-pack", starts_in=-timedelta(hours=1))
    box = ended_box(client.get(f"/packs/{ended_pack.slug}").get_data(as_text=True))
    assert f'href="/packs/{sooner.slug}"' in box and "on sale now" in box


def test_the_feed_costs_the_same_queries_for_one_pack_or_five(app: Flask, client: FlaskClient) -> None:
    from tests.test_query_counts import counting_queries  # the engine listener the page budgets use

    def queries(path: str) -> int:
        client.get(path)
        db.session.remove()
        with counting_queries(app) as statements:
            assert client.get(path).status_code == 200
        db.session.remove()
        return len(statements)

    factories.make_pack(app, slug="pack-1")
    # Home is not held to this: it asks each pack whether it is still preparing (one query each).
    one = queries("/feed.xml")
    for n in range(2, 6):
        factories.make_pack(app, slug=f"pack-{n}", starts_in=timedelta(days=n))
    assert queries("/feed.xml") == one == 2
