"""A scheduled gift and real worker processes: nothing before its day, delivered once on it by
the worker's sweep, even across a worker killed and restarted."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shop.extensions import db
from shop.gifts.models import Gift
from shop.gifts.service import GiftRequest, attach
from shop.models import utcnow
from shop.orders.service import mark_paid
from tests import factories, worker_mail
from tests.services import wait_until

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

# The fixtures this module uses, from tests/worker_mail.py.
smtp, app_overrides = worker_mail.smtp, worker_mail.app_overrides
SWEEP_EVERY = 5.0  # shop.worker.SWEEP_EVERY


def sent_at():
    db.session.expire_all()
    value = db.session.scalar(select(Gift.sent_at))
    db.session.commit()  # end the read so the workers can write (SQLite)
    return value


def test_a_scheduled_gift_is_delivered_once_after_a_worker_restart(app, pack, smtp, start_worker):
    _, inbox = smtp
    order, _ = factories.make_order(app, pack, paid=False, email="giver@example.com")
    attach(order, GiftRequest("friend@example.com", "For the road", (utcnow() + timedelta(days=1)).date()))
    assert mark_paid(order.id)
    assert [str(m["To"]) for m in inbox.messages] == ["giver@example.com"]  # the receipt, not the gift yet

    first = start_worker()
    time.sleep(SWEEP_EVERY * 1.5)  # at least one sweep runs: the day has not come
    assert sent_at() is None
    first.kill()

    # The day comes while no worker runs (the clock, moved: the delivery time put in the past).
    db.session.execute(update(Gift).values(deliver_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    start_worker()
    start_worker()  # two workers sweeping: still one mail
    assert wait_until(lambda: sent_at() is not None, timeout=60)
    time.sleep(SWEEP_EVERY * 2)  # later sweeps send nothing more
    gift_mails = [m for m in inbox.messages if str(m["To"]) == "friend@example.com"]
    assert len(gift_mails) == 1 and "For the road" in gift_mails[0].get_body(("plain",)).get_content()
