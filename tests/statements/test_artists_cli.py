"""``flask artists list / link / send-statements``, the mail through a real SMTP server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from shop.artists import Artist, StatementMail
from shop.extensions import db
from shop.ledger.models import EntryKind
from shop.models import utcnow
from tests.ledger_rows import post, sale
from tests.smtp import running_smtp_server

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

NOVEMBER = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture
def inbox(app):
    with running_smtp_server() as (url, received):
        app.config["MAIL_URL"] = url
        yield received


def _artists(pack) -> list[Artist]:
    return [a.artist_record for a in sorted(pack.albums, key=lambda a: a.position)]


def _link_in(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://shop\.test(/statements/[A-Za-z0-9_-]{43})", body).group(1)


def test_list_shows_balances_and_fresh_links(runner, client, pack):
    first, second = _artists(pack)
    first.email = "fires@example.com"
    sale(first, 1234)
    out = runner.invoke(args=["artists", "list"])
    assert out.exit_code == 0, out.output
    assert f"{first.id}\t{first.name}\tfires@example.com\t$12.34" in out.output
    assert f"{second.id}\t{second.name}\t(no e-mail)\tnothing owed" in out.output
    assert "statement link" not in out.output
    with_links = runner.invoke(args=["artists", "list", "--links"])
    found = re.findall(r"statement link: http://shop\.test(/statements/\S+)", with_links.output)
    assert len(found) == 2
    assert first.name in client.get(found[0]).data.decode()


def test_link_mints_one_and_refuses_an_unknown_artist(runner, client, pack):
    artist = _artists(pack)[0]
    out = runner.invoke(args=["artists", "link", str(artist.id)])
    assert out.exit_code == 0
    assert client.get(out.output.strip().removeprefix("http://shop.test")).status_code == 200
    missing = runner.invoke(args=["artists", "link", "99999"])
    assert missing.exit_code != 0 and "no artist #99999" in missing.output


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "november", "2026-11-01", ""])
def test_send_statements_refuses_a_wrong_month(runner, pack, month):
    out = runner.invoke(args=["artists", "send-statements", "--month", month])
    assert out.exit_code == 2 and "YYYY-MM" in out.output


def test_each_artist_with_something_gets_one_mail_and_a_second_run_sends_none(runner, client, pack, inbox):
    first, second = _artists(pack)
    quiet = Artist(name="Nobody Bought", name_key="nobody bought", email="quiet@example.com")
    no_mail = Artist(name="No Address", name_key="no address")
    db.session.add_all([quiet, no_mail])
    first.email, second.email = "fires@example.com", "bjork@example.com"
    db.session.commit()
    sale(first, 1000, fee=50, at=NOVEMBER)
    sale(second, 700, at=datetime(2026, 10, 5, tzinfo=UTC))  # a balance carried into November
    sale(no_mail, 300, at=NOVEMBER)
    post(EntryKind.SHARE, {quiet: 0}, at=NOVEMBER)

    out = runner.invoke(args=["artists", "send-statements", "--month", "2026-11"])
    assert out.exit_code == 0, out.output
    assert "2 sent" in out.output and "1 without e-mail" in out.output
    assert sorted(m["To"] for m in inbox.messages) == ["bjork@example.com", "fires@example.com"]
    mail = inbox.to("fires@example.com")[0]
    assert mail["Subject"] == "Your statement for 2026-11"
    assert "$9.50" in mail.get_body(("plain",)).get_content()
    page = client.get(_link_in(mail))
    assert page.status_code == 200 and first.name in page.data.decode()

    again = runner.invoke(args=["artists", "send-statements", "--month", "2026-11"])
    assert again.exit_code == 0 and "0 sent, 2 sent before" in again.output
    assert inbox.count() == 2
    assert all(row.sent_at is not None for row in db.session.scalars(db.select(StatementMail)))


def test_a_run_killed_before_sending_is_resumed_by_the_next(runner, pack, inbox):
    artist = _artists(pack)[0]
    artist.email = "fires@example.com"
    db.session.add(StatementMail(artist_id=artist.id, month="2026-11", created_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    sale(artist, 1000, at=NOVEMBER)
    out = runner.invoke(args=["artists", "send-statements", "--month", "2026-11"])
    assert "1 sent" in out.output and inbox.count() == 1
    assert runner.invoke(args=["artists", "send-statements", "--month", "2026-11"]).exit_code == 0
    assert inbox.count() == 1


def test_an_unsent_row_of_a_run_still_sending_is_left_alone(runner, pack, inbox):
    artist = _artists(pack)[0]
    artist.email = "fires@example.com"
    db.session.add(StatementMail(artist_id=artist.id, month="2026-11", created_at=utcnow()))
    db.session.commit()
    sale(artist, 1000, at=NOVEMBER)
    out = runner.invoke(args=["artists", "send-statements", "--month", "2026-11"])
    assert "being sent by another run" in out.output and inbox.count() == 0


def test_a_refused_mail_is_retried_by_the_next_run(app, runner, pack, inbox):
    artist = _artists(pack)[0]
    artist.email = "fires@example.com"
    db.session.commit()
    sale(artist, 1000, at=NOVEMBER)
    good_url = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = "smtp://127.0.0.1:1"
    out = runner.invoke(args=["artists", "send-statements", "--month", "2026-11"])
    assert out.exit_code == 1 and "mail refused" in out.output
    assert db.session.scalar(db.select(db.func.count(StatementMail.id))) == 0
    app.config["MAIL_URL"] = good_url
    assert "1 sent" in runner.invoke(args=["artists", "send-statements", "--month", "2026-11"]).output
    assert inbox.count() == 1


def test_make_run_prints_a_working_statement_link_per_artist_of_the_first_pack(app, client, pack, capsys):
    from scripts import run_store

    run_store._statement_links(app)
    printed = capsys.readouterr().out
    found = re.findall(r"statement link for (.+): http://shop\.test(/statements/\S+)", printed)
    assert [name for name, _ in found] == [a.name for a in _artists(pack)]
    for name, path in found:
        assert name in client.get(path).data.decode()
