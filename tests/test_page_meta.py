"""What search engines read in each page's head: one non-empty meta description everywhere;
public pages open to indexing; private pages (a secret link, one buyer's checkout, the
operator console) marked ``noindex, nofollow``."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.mailing.subscriptions import request_subscription, unsubscribe_token
from shop.models import Pack
from tests import factories

DESCRIPTION = re.compile(r'<meta name="description" content="([^"]*)">')
ROBOTS = re.compile(r'<meta name="robots" content="([^"]*)">')
PUBLIC = ["/", "/packs/{slug}", "/about", "/terms", "/privacy", "/refunds", "/orders/lost", "/redeem", "/notify"]


def head_of(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    html = response.get_data(as_text=True)
    return html[:html.index("</head>")]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages_have_a_description_and_may_be_indexed(client: FlaskClient, pack: Pack, path: str) -> None:
    head = head_of(client, path.format(slug=pack.slug))
    descriptions = DESCRIPTION.findall(head)
    assert len(descriptions) == 1 and descriptions[0].strip(), descriptions
    assert ROBOTS.findall(head) == []


def test_the_lost_link_page_says_what_it_is_for(client: FlaskClient) -> None:
    (description,) = DESCRIPTION.findall(head_of(client, "/orders/lost"))
    assert description.startswith("Lost the link to your music?")


def test_private_pages_are_not_indexed(app: Flask, client: FlaskClient, pack: Pack) -> None:
    _, order_token = factories.make_order(app, pack)
    with app.app_context():
        subscriber = request_subscription("list@example.com", source="test", ip=None)
        assert subscriber is not None
        list_token = unsubscribe_token(subscriber)
    for path in (f"/orders/{order_token}", f"/unsubscribe/{list_token}", "/checkout/thanks", "/admin/login"):
        head = head_of(client, path)
        assert ROBOTS.findall(head) == ["noindex, nofollow"], path
        assert len(DESCRIPTION.findall(head)) == 1, path
