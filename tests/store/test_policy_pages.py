"""About, terms, privacy and refunds: shipped Markdown defaults, the operator's own copies in
``PAGES_DIR``, raw HTML shown as text; receipts from ``MAIL_FROM`` with ``MAIL_REPLY_TO``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shop.store.policy_pages import PAGES
from tests.services import wait_until


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_renders_its_shipped_default(client: FlaskClient, name: str) -> None:
    response = client.get(f"/{name}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r"<h1>[^<]+</h1>", html)


def test_privacy_names_every_cookie_the_store_sets(app: Flask, client: FlaskClient) -> None:
    html = client.get("/privacy").get_data(as_text=True)
    for cookie in (app.config["SESSION_COOKIE_NAME"], "shop_admin"):
        assert f"<code>{cookie}</code>" in html
    assert "Dropbox" in html and "encrypted" in html


def test_the_operators_copy_wins_and_raw_html_is_text(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    app.config["PAGES_DIR"] = str(tmp_path)
    (tmp_path / "terms.md").write_text(
        "# Our terms\n\nBe kind. <script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
        "[click](javascript:alert(3)) and [home](/)\n", encoding="utf-8")
    html = client.get("/terms").get_data(as_text=True)
    assert "<h1>Our terms</h1>" in html and "<title>Our terms · Indie Packs</title>" in html
    assert '<meta name="description" content="Be kind.' in html
    assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="/">home</a>' in html
    # Pages the operator did not write keep the shipped default.
    assert "<h1>Privacy</h1>" in client.get("/privacy").get_data(as_text=True)


def test_a_url_cannot_name_another_file(client: FlaskClient) -> None:
    for path in ("/README", "/pages/about.md", "/about.md", "/..%2fconfig"):
        assert client.get(path).status_code == 404


def test_receipt_comes_from_the_configured_sender_with_reply_to(client: FlaskClient, app: Flask, pack,  # noqa: ANN001
                                                                smtp_server) -> None:  # noqa: F811, ANN001
    controller, inbox = smtp_server
    app.config.update(MAIL_URL=f"smtp://{controller.hostname}:{controller.port}",
                      MAIL_FROM="Rain Records <orders@rain.example>", MAIL_REPLY_TO="help@rain.example")
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "20", "email": "fan@example.com"})
    client.post(response.headers["Location"])
    assert wait_until(lambda: len(inbox.messages) == 1)
    message = inbox.messages[0]
    assert message["From"] == "Rain Records <orders@rain.example>"
    assert message["Reply-To"] == "help@rain.example"
    assert message["Subject"] == f"Your music from {pack.title}"


def test_without_reply_to_there_is_no_reply_to_header(client: FlaskClient, app: Flask, pack,  # noqa: ANN001
                                                      smtp_server) -> None:  # noqa: F811, ANN001
    controller, inbox = smtp_server
    app.config["MAIL_URL"] = f"smtp://{controller.hostname}:{controller.port}"
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "20", "email": "fan@example.com"})
    client.post(response.headers["Location"])
    assert wait_until(lambda: len(inbox.messages) == 1)
    assert inbox.messages[0]["Reply-To"] is None
