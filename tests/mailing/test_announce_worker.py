"""Announcements through Redis and real worker processes: a worker SIGKILLed mid-announcement
is taken over, every confirmed subscriber gets exactly one mail, and a second announce sends
nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from shop.extensions import db
from shop.mailing.models import Announcement, AnnouncementSend, SendStatus, Subscriber, SubscriberStatus
from shop.models import utcnow
from tests import worker_mail
from tests.services import wait_until

# The fixtures this module uses, from tests/worker_mail.py.
redis_server, smtp, app_overrides, start_worker = (worker_mail.redis_server, worker_mail.smtp,
                                                   worker_mail.app_overrides, worker_mail.start_worker)

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
