"""The artist's own statement page behind a private link."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shop.artists import Artist, PayoutMethod, StatementLink
from shop.downloads.models import DownloadCount
from shop.extensions import db
from shop.ledger.models import EntryKind
from shop.models import OrderStatus, utcnow
from shop.order_links import hash_token
from shop.statements import links
from tests import factories
from tests.ledger_rows import post, sale

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def _artist(pack, position: int = 1) -> Artist:
    album = next(a for a in pack.albums if a.position == position)
    return album.artist_record


def _link(artist: Artist) -> str:
    token = links.mint(artist)
    db.session.commit()
    return token


def test_the_page_shows_each_months_figures_and_the_balance(client, pack):
    artist = _artist(pack)
    october = datetime(2026, 10, 15, tzinfo=UTC)
    sale(artist, 1000, fee=60, at=october)
    sale(artist, 500, fee=30, currency="EUR", at=october)
    post(EntryKind.REFUND, {artist: -200}, at=datetime(2026, 11, 2, tzinfo=UTC))
    post(EntryKind.PAYOUT, {artist: -740}, at=datetime(2026, 11, 3, tzinfo=UTC))
    token = _link(artist)

    response = client.get(f"/statements/{token}")
    page = response.data.decode()
    assert response.status_code == 200
    assert artist.name in page
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"] and 'name="robots" content="noindex' in page
    def figure(month: str, row: str, currency: str) -> str:
        table = re.search(rf'data-month="{month}">(.*?)</table>', page, re.S).group(1)
        line = re.search(rf'<tr class="{row}">(.*?)</tr>', table, re.S).group(1)
        return re.search(rf'data-currency="{currency}">([^<]*)<', line).group(1)

    assert figure("2026-10", "gross", "USD") == "$10.00" and figure("2026-10", "fees", "USD") == "$0.60"
    assert figure("2026-10", "net", "USD") == "$9.40" and figure("2026-10", "closing", "USD") == "$9.40"
    assert figure("2026-11", "opening", "USD") == "$9.40"
    assert figure("2026-11", "refunds", "USD") == "$2.00" and figure("2026-11", "paid-out", "USD") == "$7.40"
    assert figure("2026-11", "closing", "USD") == "$0.00"
    assert figure("2026-10", "net", "EUR") == "€4.70" and figure("2026-11", "closing", "EUR") == "€4.70"
    assert "€4.70" in page  # the EUR month, kept apart
    assert "negative-note" not in page


def test_a_refund_after_a_payout_shows_a_negative_balance_with_the_note(client, pack):
    artist = _artist(pack)
    sale(artist, 1000, at=datetime(2026, 10, 1, tzinfo=UTC))
    post(EntryKind.PAYOUT, {artist: -1000}, at=datetime(2026, 10, 2, tzinfo=UTC))
    post(EntryKind.REFUND, {artist: -300}, at=datetime(2026, 10, 3, tzinfo=UTC))
    page = client.get(f"/statements/{_link(artist)}").data.decode()
    assert "-$3.00" in page
    assert 'id="negative-note"' in page and "next payout nets it off" in page


def test_sales_count_paid_orders_per_album_and_downloaded_formats(app, client, pack):
    artist = _artist(pack, 2)
    album = next(a for a in pack.albums if a.position == 2)
    first, _ = factories.make_order(app, pack, email="a@example.com")
    second, _ = factories.make_order(app, pack, email="b@example.com")
    refunded, _ = factories.make_order(app, pack, email="c@example.com")
    refunded.status = OrderStatus.REFUNDED.value
    factories.make_order(app, pack, paid=False, email="d@example.com")
    now = utcnow()
    db.session.add_all([
        DownloadCount(order_id=first.id, kind="album", item_id=album.id, format="flac", count=3, first_at=now,
                      last_at=now),
        DownloadCount(order_id=first.id, kind="pack", item_id=0, format="flac", count=1, first_at=now, last_at=now),
        DownloadCount(order_id=second.id, kind="pack", item_id=0, format="mp3-v0", count=1, first_at=now, last_at=now),
        DownloadCount(order_id=refunded.id, kind="album", item_id=album.id, format="wav", count=1, first_at=now,
                      last_at=now),
    ])
    db.session.commit()
    page = client.get(f"/statements/{_link(artist)}").data.decode()
    row = re.search(rf'data-album="{album.id}">(.*?)</li>', page, re.S).group(1)
    assert 'class="orders">2<' in row
    assert "FLAC 1" in row and "MP3 V0 1" in row and "WAV" not in row


@pytest.mark.parametrize("token", ["short", "A" * 43, "A" * 44, "..%2F..", "%00" * 3])
def test_malformed_and_unknown_tokens_are_the_same_404(client, pack, token):
    revoked = _link(_artist(pack))
    links.revoke(_artist(pack).id)
    db.session.commit()
    missing = client.get(f"/statements/{token}")
    gone = client.get(f"/statements/{revoked}")
    assert missing.status_code == gone.status_code == 404
    assert missing.data == gone.data


def test_only_the_hash_of_a_token_is_stored(pack):
    token = _link(_artist(pack))
    stored = db.session.scalars(db.select(StatementLink.token_hash)).all()
    assert stored == [hash_token(token)] and token not in stored and len(token) == 43


def test_a_client_that_keeps_guessing_is_refused(app, client, pack):
    app.config["STATEMENT_MISSES_PER_CLIENT"] = 3
    good = _link(_artist(pack))
    assert [client.get(f"/statements/{'B' * 43}").status_code for _ in range(4)] == [404, 404, 404, 429]
    assert client.get(f"/statements/{good}").status_code == 200  # a real link is never a miss


def test_how_to_get_paid_follows_the_payout_method(app, client, pack):
    artist = _artist(pack)
    token = _link(artist)
    assert "pays you by hand" in client.get(f"/statements/{token}").data.decode()  # no Stripe at all
    app.config["STRIPE_SECRET_KEY"] = "sk_test_statement_page"
    page = client.get(f"/statements/{token}").data.decode()
    assert "Get paid with Stripe" in page and f'action="/payouts/onboard/{token}"' in page
    artist.payout_method = PayoutMethod.STRIPE.value
    artist.payouts_enabled = True
    db.session.commit()
    page = client.get(f"/statements/{token}").data.decode()
    assert "Your Stripe account is ready" in page and "Get paid with Stripe" not in page
