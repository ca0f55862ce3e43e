"""A mail that cannot be built is a mail that was not sent (security review L9): the order
stays paid, the failure is logged, and the receipt goes out when it is sent again.

Nothing of ours is mocked: the builds fail for real, on a pack title stored with a line break
(as the console and ``catalog import --title`` accepted before) and on a broken template
put in front of the app's own.
"""

from __future__ import annotations

import email
import email.policy
import logging
from pathlib import Path

from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import select

from shop.extensions import db
from shop.models import Order
from tests import factories
from tests.services import wait_until

CRLF_TITLE = "Autumn\r\nBcc: someone@example.net"


def outbox(app) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            for f in sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))]


def buy(client, pack, address: str = "fan@example.com"):
    response = client.post(f"/packs/{pack.slug}/buy", data={"amount": "12.00", "email": address})
    return client.post(response.headers["Location"])


def break_template(app, name: str) -> None:
    """Put a template in front of the app's ``name`` that fails when rendered (an attribute
    of an undefined value), as a bad edit of the real one would."""
    app.jinja_env.loader = ChoiceLoader([DictLoader({name: "{{ order.no_such_field.anything }}"}),
                                         app.jinja_env.loader])


def mend_templates(app) -> None:
    app.jinja_env.loader = app.jinja_env.loader.loaders[-1]


def test_a_title_with_a_line_break_still_gets_its_receipt(app, client, pack):
    pack.title = CRLF_TITLE
    db.session.commit()

    confirmed = buy(client, pack)

    assert confirmed.status_code == 303
    assert db.session.scalar(select(Order.status)) == "paid"
    [msg] = outbox(app)
    assert msg["Subject"] == "Your music from Autumn Bcc: someone@example.net"
    assert msg["Bcc"] is None and msg["To"] == "fan@example.com"


def test_a_title_with_a_line_break_over_real_smtp(app, client, pack, smtp_server):
    controller, inbox = smtp_server
    app.config["MAIL_URL"] = f"smtp://{controller.hostname}:{controller.port}"
    pack.title = "Autumn\x1b]0;owned\x07\u202eevil"
    db.session.commit()

    assert buy(client, pack).status_code == 303
    assert wait_until(lambda: len(inbox.messages) == 1)
    assert inbox.messages[0]["Subject"] == "Your music from Autumn ]0;owned evil"


def test_a_receipt_that_cannot_be_built_leaves_the_order_paid_and_is_sent_again(app, client, pack, caplog):
    break_template(app, "orders/mail/receipt.html")

    with caplog.at_level(logging.ERROR, logger="shop.orders.service"):
        confirmed = buy(client, pack)

    assert confirmed.status_code == 303 and confirmed.headers["Location"].startswith("/orders/")
    order = db.session.scalar(select(Order))
    assert order.status == "paid" and order.paid_at is not None
    assert outbox(app) == []
    [record] = [r for r in caplog.records if "could not be sent" in r.getMessage()]
    assert f"receipt for order {order.id}" in record.getMessage()
    assert "UndefinedError" in str(record.exc_info[1])
    # The buyer reaches the order through the link the confirm gave, as when the mail server is down.
    assert client.get(confirmed.headers["Location"]).status_code == 200

    # Retried as a failed send is: the buyer's "lost links" form (or the operator's resend).
    mend_templates(app)
    assert client.post("/orders/lost", data={"email": "fan@example.com"}).status_code == 200
    [msg] = outbox(app)
    assert msg["To"] == "fan@example.com"


def test_a_lost_links_mail_that_cannot_be_built_is_a_503_not_a_500(app, client, pack):
    factories.make_order(app, pack, email="fan@example.com")
    break_template(app, "orders/mail/links.txt")

    response = client.post("/orders/lost", data={"email": "fan@example.com"})

    assert response.status_code == 503 and outbox(app) == []


def test_a_refund_notice_that_cannot_be_built_leaves_the_refund(app, pack, caplog):
    from shop.orders.service import mark_refunded
    from shop.payments.notices import send_refund_notice

    order, _ = factories.make_order(app, pack)
    break_template(app, "payments/mail/refunded.txt")
    assert mark_refunded(order.id)

    with caplog.at_level(logging.ERROR, logger="shop.payments.notices"):
        send_refund_notice(order.id)

    assert any("refund notice" in r.getMessage() for r in caplog.records)
    db.session.refresh(order)
    assert order.status == "refunded" and outbox(app) == []
