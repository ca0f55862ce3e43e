"""Announcements through Redis and real worker processes: a worker SIGKILLed mid-announcement
is taken over, every confirmed subscriber gets exactly one mail, and a second announce sends
nothing; a pack whose sale starts is announced once by the sweeping workers themselves."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop.extensions import db
from shop.mailing.models import Announcement, AnnouncementSend, SendStatus, Subscriber, SubscriberStatus
from shop.models import Pack, utcnow
from tests import factories, worker_mail
from tests.services import wait_until

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

# The fixtures this module uses, from tests/worker_mail.py.
smtp, app_overrides = worker_mail.smtp, worker_mail.app_overrides

SUBSCRIBERS = 12
HELD = 6  # the SMTP server holds the 6th mail while the worker is killed


def sends(status: str) -> int:
    db.session.expire_all()
    count = db.session.scalar(select(func.count(AnnouncementSend.id)).where(AnnouncementSend.status == status))
    db.session.commit()  # end the read so the workers can write (SQLite)
    return int(count or 0)


def finished() -> bool:
    db.session.expire_all()
    done = db.session.scalar(select(Announcement.finished_at)) is not None
    db.session.commit()
    return done


def test_killed_announcement_resumes_and_each_subscriber_gets_exactly_one_mail(app, pack, runner, smtp,
                                                                             start_worker):
    _, inbox = smtp
    now = utcnow()
    for n in range(SUBSCRIBERS):
        db.session.add(Subscriber(email=f"fan{n:02d}@example.com", status=SubscriberStatus.CONFIRMED.value,
                                  confirmed_at=now))
    db.session.add(Subscriber(email="pending@example.com"))
    db.session.add(Subscriber(email="gone@example.com", status=SubscriberStatus.UNSUBSCRIBED.value,
                              unsubscribed_at=now))
    db.session.commit()
    inbox.hold_at = HELD

    result = runner.invoke(args=["mailing", "announce", "--pack", pack.slug])
    assert f"to {SUBSCRIBERS} confirmed subscribers" in result.output, result.output
    first = start_worker()
    assert inbox.holding.wait(timeout=60), "the worker never reached the held mail"
    first.kill()  # SIGKILL in the middle of an SMTP conversation
    inbox.release.set()
    assert inbox.count() == HELD - 1
    assert sends(SendStatus.SENDING.value) == 1 and not finished()

    start_worker()  # its sweep finds the silent announcement and carries on
    assert wait_until(finished, timeout=90)
    addresses = sorted(str(m["To"]) for m in inbox.messages)
    assert addresses == [f"fan{n:02d}@example.com" for n in range(SUBSCRIBERS)]  # each once, nobody else
    assert sends(SendStatus.SENT.value) == SUBSCRIBERS
    message = inbox.messages[0]
    assert "List-Unsubscribe=One-Click" in str(message["List-Unsubscribe-Post"])
    assert pack.title in str(message["Subject"])

    again = runner.invoke(args=["mailing", "announce", "--pack", pack.slug])
    assert "nothing more to send" in again.output, again.output
    assert start_worker(burst=True).wait(timeout=60) == 0
    assert inbox.count() == SUBSCRIBERS


SWEEP_EVERY = 5.0  # shop.worker.SWEEP_EVERY


def announcements_of(slug: str) -> list[Announcement]:
    db.session.expire_all()
    rows = db.session.scalars(select(Announcement).join(Pack).where(Pack.slug == slug)).all()
    db.session.commit()
    return list(rows)


def test_a_pack_going_on_sale_is_announced_once_by_the_sweeping_workers(app, runner, smtp, start_worker):
    _, inbox = smtp
    now = utcnow()
    for n in range(4):
        db.session.add(Subscriber(email=f"fan{n:02d}@example.com", status=SubscriberStatus.CONFIRMED.value,
                                  confirmed_at=now))
    db.session.commit()
    coming = factories.make_pack(app, slug="coming", starts_in=timedelta(days=1), formats=("flac",))
    factories.make_pack(app, slug="long-on-sale", starts_in=-timedelta(days=5), formats=("flac",))

    start_worker()
    start_worker()  # two workers sweeping at once
    time.sleep(SWEEP_EVERY * 1.5)  # at least one sweep ran: nothing is announced yet
    assert announcements_of("coming") == [] and announcements_of("long-on-sale") == []
    assert inbox.count() == 0

    # The sale starts (the clock, moved: the pack's start put just in the past).
    db.session.execute(update(Pack).where(Pack.id == coming.id).values(starts_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert wait_until(lambda: [a.finished_at is not None for a in announcements_of("coming")] == [True],
                      timeout=90)
    time.sleep(SWEEP_EVERY * 2)  # later sweeps start nothing more
    [announcement] = announcements_of("coming")
    assert announcement.automatic and announcement.total == 4
    assert sorted(str(m["To"]) for m in inbox.messages) == [f"fan{n:02d}@example.com" for n in range(4)]
    assert "Coming" in str(inbox.messages[0]["Subject"])
    assert announcements_of("long-on-sale") == []  # on sale long before: never announced by itself

    again = runner.invoke(args=["mailing", "announce", "--pack", "coming"])
    assert "nothing more to send" in again.output, again.output
    assert start_worker(burst=True).wait(timeout=60) == 0
    assert inbox.count() == 4


def test_with_the_setting_at_zero_the_workers_announce_nothing_by_themselves(app, smtp, start_worker):
    _, inbox = smtp
    db.session.add(Subscriber(email="fan@example.com", status=SubscriberStatus.CONFIRMED.value,
                              confirmed_at=utcnow()))
    db.session.commit()
    factories.make_pack(app, slug="fresh", starts_in=-timedelta(minutes=1), formats=("flac",))
    app.config["ANNOUNCE_WITHIN_HOURS"] = 0  # passed on to the worker's environment
    start_worker()
    time.sleep(SWEEP_EVERY * 2)  # at least one sweep ran
    assert announcements_of("fresh") == [] and inbox.count() == 0
