"""No order token, fetch token or OAuth code in the application log (``shop/logs.py``; security
review L1)."""

from __future__ import annotations

import logging
import sys

from shop import create_app
from tests import factories


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
