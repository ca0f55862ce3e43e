"""The pack page and the order page run a fixed number of SQL queries, whatever the size
of the pack: counted with a ``before_cursor_execute`` listener on the app's engine, on a
2-album and a 12-album pack (every track in every buyer format), side by side.

The order page is the full one: a paid order with a Dropbox connection, deliveries of
the pack and of each album (with their files), and download counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, url_for
from sqlalchemy import event

from shop.accounting import pack_stats
from shop.catalog.state import pack_with_state
from shop.downloads.models import PACK_ITEM_ID, DownloadCount
from shop.dropbox.models import Delivery, DeliveryFile, DropboxConnection, delivery_target
from shop.extensions import db
from shop.models import FORMATS, Encode, Pack, TrackFile
from shop.page_cache import clear_catalog_cache
from tests import factories

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

# What a page may cost at most, whatever the pack holds. Each process reads a pack's catalog
# once per catalog version (shop.page_cache.cached): afterwards the pack page costs one query
# (the pack with its catalog state and its stats); the order page three: the order through its
# link with its pack and the pack's catalog state, the download counts, and the Dropbox
# connection with the newest deliveries and their files (one joined query).
PACK_PAGE_MAX_QUERIES = 1
PACK_PAGE_UNCACHED_MAX_QUERIES = 4
ORDER_PAGE_MAX_QUERIES = 3
ORDER_PAGE_UNCACHED_MAX_QUERIES = 6


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # The order page shows its Dropbox panel only when the app is configured for Dropbox.
    return {"DROPBOX_APP_KEY": "key", "DROPBOX_APP_SECRET": "secret"}


def albums(count: int, tracks: int = 3) -> tuple[tuple[str, str, str, list[str]], ...]:
    return tuple(
        (f"Artist {n}", f"Album {n}", "rock", [f"Track {n}.{t}" for t in range(1, tracks + 1)])
        for n in range(1, count + 1)
    )


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engines[None]
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def queries_for(app: Flask, url: str, cold: bool = False) -> list[str]:
    client = app.test_client()
    assert client.get(url).status_code == 200  # warm: first-request work is not the page's
    db.session.remove()  # a fresh session per request, as in production
    if cold:
        clear_catalog_cache()
    with counting_queries(app) as statements:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return statements


def paid_order_with_everything(app: Flask, pack: Pack) -> str:
    order, token = factories.make_order(app, pack, paid=True, email=f"{pack.slug}@example.com")
    db.session.add(DropboxConnection(order_id=order.id, account_id="dbid:buyer", account_email="buyer@example.com",
                                     account_name="Buyer", refresh_token_enc="x", scope="files.content.write"))
    targets: list[int | None] = [None, *(album.id for album in pack.albums)]
    for album_id in targets:
        delivery = Delivery(order_id=order.id, target=delivery_target(album_id), format="flac", status="done")
        albums_delivered = pack.albums if album_id is None else [a for a in pack.albums if a.id == album_id]
        position = 0
        for album in albums_delivered:
            for track in album.tracks:
                track_file = track.file("flac")
                assert track_file is not None
                position += 1
                delivery.files.append(DeliveryFile(track_file_id=track_file.id, album_id=album.id, position=position,
                                                   folder=album.title, name=f"{track.number}.flac", status="done"))
        db.session.add(delivery)
    db.session.add(DownloadCount(order_id=order.id, kind="pack", item_id=PACK_ITEM_ID, format="flac", count=2))
    for album in pack.albums:
        db.session.add(DownloadCount(order_id=order.id, kind="album", item_id=album.id, format="mp3-v0", count=1))
        db.session.add(DownloadCount(order_id=order.id, kind="track", item_id=album.tracks[0].id, format="opus",
                                     count=3))
    db.session.commit()
    return token


def test_pack_page_queries_do_not_grow_with_the_pack(app: Flask) -> None:
    factories.make_pack(app, slug="small-pack", albums=albums(2))
    factories.make_pack(app, slug="large-pack", albums=albums(12))
    small_queries = queries_for(app, "/packs/small-pack")
    large_queries = queries_for(app, "/packs/large-pack")
    assert len(small_queries) == len(large_queries), (small_queries, large_queries)
    assert len(large_queries) <= PACK_PAGE_MAX_QUERIES, large_queries

    small_uncached = queries_for(app, "/packs/small-pack", cold=True)
    large_uncached = queries_for(app, "/packs/large-pack", cold=True)
    assert len(small_uncached) == len(large_uncached), (small_uncached, large_uncached)
    assert len(large_uncached) <= PACK_PAGE_UNCACHED_MAX_QUERIES, large_uncached


def test_a_pack_not_on_sale_yet_is_never_cached(app: Flask) -> None:
    """Before its sale the console may still edit a pack: its page shows every edit at once."""
    pack = factories.make_pack(app, slug="later-pack", albums=albums(2), starts_in=timedelta(days=1))
    client = app.test_client()
    assert "Album 1" in client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    pack.albums[0].title = "Renamed Before The Sale"
    db.session.commit()
    assert "Renamed Before The Sale" in client.get(f"/packs/{pack.slug}").get_data(as_text=True)


def test_the_cached_catalog_follows_a_new_file(app: Flask) -> None:
    """An encode or import below the console (a file added) changes the catalog version."""
    pack = factories.make_pack(app, slug="live-pack", albums=albums(1, tracks=1), formats=("flac",))
    client = app.test_client()
    assert "MP3 V0" not in client.get(f"/packs/{pack.slug}").get_data(as_text=True).split("buy-box")[0]
    track = pack.albums[0].tracks[0]
    track.files.append(TrackFile(format="mp3-v0", storage_key="audio/x.mp3", size=4096, crc32=0, sha256="0" * 64,
                                 dropbox_content_hash="0" * 64))
    db.session.commit()
    assert "MP3 V0" in client.get(f"/packs/{pack.slug}").get_data(as_text=True).split("buy-box")[0]


def test_a_packs_catalog_state_is_its_own(app: Flask) -> None:
    """Encodes and files of one pack neither hold another back as "preparing" nor change its
    catalog version (the state's subqueries are correlated to their own pack)."""
    quiet = factories.make_pack(app, slug="quiet-pack", albums=albums(1, tracks=1), formats=("flac",))
    busy = factories.make_pack(app, slug="busy-pack", albums=albums(1, tracks=1), formats=("flac",))
    found = pack_with_state("id", quiet.id)
    assert found is not None and not found[1].preparing
    quiet_version = found[1].version
    busy_track = busy.albums[0].tracks[0]
    db.session.add(Encode(track_id=busy_track.id, format="mp3-v0"))
    busy_track.files.append(TrackFile(format="mp3-v0", storage_key="audio/y.mp3", size=4096, crc32=0,
                                      sha256="1" * 64, dropbox_content_hash="1" * 64))
    db.session.commit()
    quiet_now, busy_now = pack_with_state("slug", "quiet-pack"), pack_with_state("slug", "busy-pack")
    assert quiet_now is not None and busy_now is not None
    assert not quiet_now[1].preparing and quiet_now[1].version == quiet_version
    assert busy_now[1].preparing
    assert app.test_client().get("/packs/quiet-pack").get_data(as_text=True).count('class="buy-form"') == 1


def test_the_catalog_state_and_the_pack_agree_on_preparing(app: Flask) -> None:
    """"Preparing" is one expression (shop.models.preparing): the catalog state read with the
    pack and Pack.is_preparing say the same before, during and after an encode."""
    pack = factories.make_pack(app, slug="encoding-pack", albums=albums(1, tracks=1), formats=("flac",))

    def both() -> tuple[bool, bool]:
        db.session.expire_all()
        found = pack_with_state("id", pack.id)
        assert found is not None
        return found[1].preparing, found[0].is_preparing()

    assert both() == (False, False)
    encode = Encode(track_id=pack.albums[0].tracks[0].id, format="mp3-v0")
    db.session.add(encode)
    db.session.commit()
    assert both() == (True, True)
    encode.status = "done"
    db.session.commit()
    assert both() == (False, False)


def test_order_page_queries_do_not_grow_with_the_pack(app: Flask) -> None:
    small = factories.make_pack(app, slug="small-pack", albums=albums(2))
    large = factories.make_pack(app, slug="large-pack", albums=albums(12))
    small_token = paid_order_with_everything(app, small)
    large_token = paid_order_with_everything(app, large)
    small_queries = queries_for(app, f"/orders/{small_token}")
    large_queries = queries_for(app, f"/orders/{large_token}")
    assert len(small_queries) == len(large_queries), (small_queries, large_queries)
    assert len(large_queries) <= ORDER_PAGE_MAX_QUERIES, large_queries

    small_uncached = queries_for(app, f"/orders/{small_token}", cold=True)
    large_uncached = queries_for(app, f"/orders/{large_token}", cold=True)
    assert len(small_uncached) == len(large_uncached), (small_uncached, large_uncached)
    assert len(large_uncached) <= ORDER_PAGE_UNCACHED_MAX_QUERIES, large_uncached


def test_the_pages_still_show_everything(app: Flask) -> None:
    """The eager loads change how rows arrive, not what the pages show."""
    pack = factories.make_pack(app, slug="large-pack", albums=albums(12))
    token = paid_order_with_everything(app, pack)
    client = app.test_client()
    pack_page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    # The order page shows one format at a time (?format=, else the buyer's cookie).
    order_pages = {fmt: client.get(f"/orders/{token}?format={fmt}").get_data(as_text=True) for fmt in FORMATS}
    for n in (1, 12):
        assert f"Album {n}" in pack_page and f"Track {n}.3" in pack_page
        for order_page in order_pages.values():
            assert f"Album {n}" in order_page and f"Track {n}.3" in order_page
    assert pack_page.count('class="preview-link"') == 36 and pack_page.count('<audio') == 1
    assert "downloaded 2×" in order_pages["flac"]  # the pack's FLAC zip
    assert "×3" in order_pages["opus"]  # a track's Opus file
    assert "b•••@example.com" in order_pages["mp3-v0"]  # the Dropbox panel's account
    with app.test_request_context():
        for album in pack.albums:
            for track in album.tracks:
                for fmt, order_page in order_pages.items():  # every link of every track, as url_for builds it
                    assert f'href="{url_for("downloads.track", token=token, track_id=track.id, fmt=fmt)}"' in order_page


def test_the_pack_page_counts_what_pack_stats_counts(app: Flask) -> None:
    """The page reads its stats with the pack; they are pack_stats' (paid orders, net of
    partial refunds; refunded and pending ones left out), like the stats JSON's."""
    pack = factories.make_pack(app, slug="busy-pack", albums=albums(1))
    factories.make_order(app, pack, email="a@example.com", amount_cents=1000)
    partly, _ = factories.make_order(app, pack, email="b@example.com", amount_cents=2000)
    partly.refunded_cents = 500
    refunded, _ = factories.make_order(app, pack, email="c@example.com", amount_cents=700)
    refunded.status, refunded.refunded_cents = "refunded", 700
    factories.make_order(app, pack, paid=False, email="d@example.com", amount_cents=300)
    db.session.commit()
    assert pack_stats(pack.id) == (2, 2500, 1250)
    client = app.test_client()
    page = client.get("/packs/busy-pack").get_data(as_text=True)
    assert 'data-stat="purchases">2<' in page
    assert ">$12.50<" in page and ">$25.00<" in page
    assert client.get("/packs/busy-pack/stats.json").get_json()["average_cents"] == 1250


def test_the_stats_json_is_one_query(app: Flask) -> None:
    """The pay box's numbers (threshold, the split of all money) come with the pack row."""
    factories.make_pack(app, slug="large-pack", albums=albums(12))
    assert len(queries_for(app, "/packs/large-pack/stats.json")) == 1
