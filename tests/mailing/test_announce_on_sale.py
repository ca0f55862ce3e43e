"""A pack announced by the worker's sweep when its sale starts: exactly once per pack (the
announcement's unique pack decides, even between sweeps at once), never for packs on sale
before or already ended, never while encoding, and not at all with the setting at 0."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text, update

from shop.extensions import db
from shop.mailing.announcements import announce_new_sales
from shop.mailing.models import Announcement, AnnouncementSend, Subscriber, SubscriberStatus
from shop.models import Encode, Pack, utcnow
from tests import factories
from tests.services import wait_until

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

ONE_TRACK = (("Solo", "Single", "pop", ["One"]),)


def add_subscribers(count: int) -> None:
    now = utcnow()
    for n in range(count):
        db.session.add(Subscriber(email=f"fan{n:02d}@example.com", status=SubscriberStatus.CONFIRMED.value,
                                  confirmed_at=now))
    db.session.add(Subscriber(email="pending@example.com"))
    db.session.commit()


def announced_slugs() -> list[str]:
    db.session.expire_all()
    slugs = db.session.scalars(select(Pack.slug).join(Announcement, Announcement.pack_id == Pack.id)
                               .order_by(Pack.slug)).all()
    db.session.commit()  # end the read so other writers can go on (SQLite)
    return list(slugs)


def make(app, slug: str, starts_in: timedelta, lasts: timedelta = timedelta(days=14)) -> Pack:
    return factories.make_pack(app, slug=slug, starts_in=starts_in, lasts=lasts, albums=ONE_TRACK,
                               formats=("flac",), previews=False)


def test_only_a_pack_whose_sale_just_started_is_announced_and_only_once(app):
    add_subscribers(3)
    make(app, "fresh", -timedelta(minutes=5))
    make(app, "long-on-sale", -timedelta(days=3))  # on sale since before the window
    make(app, "ended", -timedelta(hours=3), lasts=timedelta(hours=1))  # started recently, over now
    make(app, "tomorrow", timedelta(days=1))
    preparing = make(app, "encoding", -timedelta(minutes=5))
    db.session.add(Encode(track_id=preparing.albums[0].tracks[0].id, format="mp3-v0"))
    db.session.commit()

    assert announce_new_sales() == 1
    assert announced_slugs() == ["fresh"]
    announcement = db.session.scalar(select(Announcement))
    assert announcement is not None and announcement.automatic and announcement.total == 3
    assert announce_new_sales() == 0  # a second sweep starts nothing
    assert db.session.scalar(select(func.count(AnnouncementSend.id))) == 3

    # The encodes finish within the window: the pack goes on sale, and is announced then.
    db.session.execute(text("UPDATE encodes SET status = 'done'"))
    db.session.commit()
    assert announce_new_sales() == 1
    assert announced_slugs() == ["encoding", "fresh"]
    # Tomorrow's pack comes, within the window: announced; 24 hours later it would not be.
    assert announce_new_sales(now=utcnow() + timedelta(days=1, minutes=1)) == 1
    assert announced_slugs() == ["encoding", "fresh", "tomorrow"]


def test_a_pack_already_announced_by_hand_is_not_announced_again(app, runner):
    add_subscribers(2)
    pack = make(app, "by-hand", -timedelta(minutes=1))
    result = runner.invoke(args=["mailing", "announce", "--pack", pack.slug])
    assert "recorded, but the queue is down" in result.output, result.output  # no Redis in this test
    assert announce_new_sales() == 0
    [announcement] = db.session.scalars(select(Announcement)).all()
    assert not announcement.automatic


def test_the_setting_at_zero_turns_automatic_announcements_off(app):
    add_subscribers(1)
    make(app, "fresh", -timedelta(minutes=1))
    app.config["ANNOUNCE_WITHIN_HOURS"] = 0
    assert announce_new_sales() == 0
    assert announced_slugs() == []
    app.config["ANNOUNCE_WITHIN_HOURS"] = 1
    assert announce_new_sales(now=utcnow() + timedelta(hours=2)) == 0  # too late for a 1-hour window
    assert announce_new_sales() == 1


def postgresql_only() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("unique-index waits between transactions are PostgreSQL's; SQLite serialises every writer")


def test_sweeps_at_once_start_one_announcement(app):
    postgresql_only()
    add_subscribers(4)
    make(app, "fresh", -timedelta(minutes=1))
    callers = 4
    barrier = threading.Barrier(callers)
    started: list[int] = []
    errors: list[Exception] = []

    def sweep() -> None:
        with app.app_context():
            barrier.wait()
            try:
                started.append(announce_new_sales())
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(started) == [0] * (callers - 1) + [1]
    assert db.session.scalar(select(func.count(Announcement.id))) == 1
    assert db.session.scalar(select(func.count(AnnouncementSend.id))) == 4


def test_a_sweep_that_loses_the_race_on_the_unique_pack_starts_nothing(app):
    """The other sweep has inserted its announcement and not committed yet: this one sees no
    announcement, inserts its own, waits on the unique index, then gives way."""
    postgresql_only()
    add_subscribers(2)
    pack = make(app, "fresh", -timedelta(minutes=1))
    pack_id = pack.id
    db.session.commit()
    other = db.engine.connect()
    transaction = other.begin()
    other.execute(insert(Announcement).values(pack_id=pack_id, total=0, automatic=True, created_at=utcnow()))
    result: list[int | Exception] = []

    def sweep() -> None:
        with app.app_context():
            try:
                result.append(announce_new_sales())
            except Exception as exc:  # reported by the assertion below
                result.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=sweep)
    thread.start()
    try:
        def waiting_on_the_index() -> bool:
            with db.engine.connect() as probe:
                return bool(probe.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")))
        # Generous: the limit only matters when the sweep never gets there.
        assert wait_until(waiting_on_the_index, timeout=120), "the sweep never waited for the other insert"
    finally:
        transaction.commit()
        other.close()
    thread.join(timeout=120)
    assert result == [0]
    assert db.session.scalar(select(func.count(Announcement.id))) == 1
    assert db.session.scalar(select(func.count(AnnouncementSend.id))) == 0  # the winner's audience, not ours


def test_the_console_says_which_announcements_started_by_themselves(app, admin_client):
    add_subscribers(1)
    make(app, "fresh", -timedelta(minutes=1))
    hand = make(app, "older", -timedelta(days=2))
    assert announce_new_sales() == 1
    db.session.execute(update(Announcement).values(created_at=utcnow() - timedelta(minutes=1)))
    db.session.add(Announcement(pack_id=hand.id, total=0, finished_at=utcnow()))
    db.session.commit()
    page = admin_client.get("/admin/list").get_data(as_text=True)
    rows = page[page.index('id="announcements"'):]
    fresh_row = rows[rows.index("Fresh"):][:rows[rows.index("Fresh"):].index("</tr>")]
    assert "automatically: the pack went on sale" in fresh_row
    assert "(by hand)" in rows
