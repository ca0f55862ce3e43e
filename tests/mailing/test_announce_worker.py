"""Announcements through Redis and real worker processes: a worker SIGKILLed mid-announcement
is taken over, every confirmed subscriber gets exactly one mail, and a second announce sends
nothing."""

from __future__ import annotations

import shutil

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from shop.extensions import db
from shop.mailing.models import Announcement, AnnouncementSend, SendStatus, Subscriber, SubscriberStatus
from shop.models import utcnow
from tests.services import RedisServer, WorkerProcess, wait_until
from tests.smtp import running_smtp_server

SUBSCRIBERS = 12
HELD = 6  # the SMTP server holds the 6th mail while the worker is killed


@pytest.fixture(scope="module")
def redis_server():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp():
    with running_smtp_server() as served:
        yield served


@pytest.fixture
def app_overrides(redis_server, smtp):
    redis.Redis.from_url(redis_server.url).flushdb()
    return {"REDIS_URL": redis_server.url, "MAIL_URL": smtp[0], "MAIL_RATE": 20.0, "ANNOUNCE_STALE_SECONDS": 2,
            "TOKEN_KEYS": Fernet.generate_key().decode()}


@pytest.fixture
def start_worker(app, tmp_path):
    workers: list[WorkerProcess] = []

    def start(burst: bool = False) -> WorkerProcess:
        env = {"SHOP_ENV": "testing", "SHOP_SECRET_KEY": app.config["SECRET_KEY"],
               "SHOP_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SHOP_MEDIA_ROOT": app.config["MEDIA_ROOT"],
               "SHOP_REDIS_URL": app.config["REDIS_URL"], "SHOP_BASE_URL": app.config["BASE_URL"],
               "SHOP_MAIL_URL": app.config["MAIL_URL"], "SHOP_MAIL_RATE": str(app.config["MAIL_RATE"]),
               "SHOP_ANNOUNCE_STALE_SECONDS": str(app.config["ANNOUNCE_STALE_SECONDS"]),
               "SHOP_TOKEN_KEYS": app.config["TOKEN_KEYS"]}
        worker = WorkerProcess(env, burst=burst, log_path=tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker.start())
        return worker

    yield start
    for worker in workers:
        worker.stop()
    db.session.remove()


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
