"""The order page's player stream, ``/orders/<token>/listen/<track_id>``: what it plays, who may
play it, its ranges, and that listening is never counted as a download."""

from __future__ import annotations

import io

import pytest
from werkzeug.http import parse_options_header

from shop.downloads.counting import download_counts
from shop.extensions import db
from shop.models import DisputeStatus, OrderStatus, utcnow
from tests import factories
from tests.downloads.conftest import first_track, track_url
from tests.downloads.test_views import buffered_client


def listen_url(token: str, track_id: int) -> str:
    return f"/orders/{token}/listen/{track_id}"


def test_plays_the_tracks_mp3_inline(client, pack, paid_order) -> None:
    _, token = paid_order
    track = first_track(pack)
    response = client.get(listen_url(token, track.id))
    assert response.status_code == 200
    assert response.mimetype == "audio/mpeg"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Cache-Control"] == "private"
    disposition, params = parse_options_header(response.headers["Content-Disposition"])
    assert disposition == "inline" and params["filename"].endswith(".mp3")
    # The same bytes as the MP3 V0 download.
    assert response.data == client.get(track_url(token, track, "mp3-v0")).data
    assert response.headers["ETag"] == f'"{track.file("mp3-v0").sha256}"'


def test_falls_back_to_another_format_browsers_play(app, client) -> None:
    pack = factories.make_pack(app, slug="no-mp3", formats=("aac", "flac"))
    _, token = factories.make_order(app, pack)
    response = client.get(listen_url(token, first_track(pack).id))
    assert response.status_code == 200 and response.mimetype == "audio/mp4"
    # Only lossless files: nothing to stream, and the order page shows no player.
    lossless = factories.make_pack(app, slug="lossless-only", formats=("flac", "wav"))
    _, lossless_token = factories.make_order(app, lossless, email="lossless@example.com")
    assert client.get(listen_url(lossless_token, first_track(lossless).id)).status_code == 404
    html = client.get(f"/orders/{lossless_token}").data.decode()
    assert "<audio" not in html and 'class="play"' not in html


def test_the_order_page_has_one_player_with_every_bought_track(client, pack, paid_order) -> None:
    _, token = paid_order
    html = client.get(f"/orders/{token}").data.decode()
    assert html.count("<audio") == 1
    tracks = [t for album in pack.albums for t in album.tracks]
    first = listen_url(token, tracks[0].id)
    assert f'<audio class="player-audio" controls preload="none" src="{first}"></audio>' in html
    for track in tracks:
        assert html.count(f'href="{listen_url(token, track.id)}" data-play="{track.id}"') == 1
    assert "listening never counts as a download" in html
    for name in ("data-player-prev", "data-player-toggle", "data-player-next", "data-player-seek"):
        assert name in html


def test_only_a_paid_order_with_a_live_link_gets_audio(app, client, pack, paid_order) -> None:
    order, token = paid_order
    track = first_track(pack)
    other_pack = factories.make_pack(app, slug="other-pack")
    assert client.get(listen_url(token, track.id)).status_code == 200
    refusals = [
        listen_url("A" * 43, track.id), listen_url("short", track.id), listen_url(token, 999_999),
        listen_url(token, first_track(other_pack).id), f"/orders/{token}/listen/abc",
        f"/orders/{token}/listen/-1", f"/orders/{token}/listen/{track.id}.mp3",
    ]
    _, pending_token = factories.make_order(app, pack, paid=False, email="pending@example.com")
    refusals.append(listen_url(pending_token, track.id))
    for url in refusals:
        for method in (client.get, client.head):
            response = method(url)
            assert response.status_code == 404, url
            assert "Content-Disposition" not in response.headers


@pytest.mark.parametrize("change", ["refunded", "disputed", "dispute_lost", "revoked"])
def test_a_refunded_disputed_or_revoked_order_gets_no_audio(client, pack, paid_order, change: str) -> None:
    order, token = paid_order
    url = listen_url(token, first_track(pack).id)
    assert client.get(url).status_code == 200
    if change == "refunded":
        order.status, order.refunded_cents = OrderStatus.REFUNDED.value, order.amount_cents
    elif change.startswith("dispute"):
        order.status = OrderStatus.DISPUTED.value
        order.dispute_status = DisputeStatus.LOST.value if change == "dispute_lost" else None
    else:
        for link in order.links:
            link.revoked_at = utcnow()
    db.session.commit()
    assert client.get(url).status_code == 404
    assert client.get(url, headers={"Range": "bytes=0-99"}).status_code == 404


def test_a_refund_during_a_stream_stops_it(app, monkeypatch) -> None:
    """The stream asks whether the order is still paid while it runs, as a download does."""
    from shop.downloads import streaming

    monkeypatch.setattr(streaming, "REVOCATION_CHECK_CHUNKS", 1)
    big = factories.make_pack(app, slug="big-pack", albums=(("A", "B", "rock", ["One"]),),
                              file_size=3 * streaming.STREAM_CHUNK_SIZE, formats=("mp3-v0",))
    order, token = factories.make_order(app, big)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": listen_url(token, first_track(big).id),
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO()}
    body = app.wsgi_app(environ, lambda status, headers: None)
    chunks = iter(body)
    received = len(next(chunks))
    order.status = OrderStatus.REFUNDED.value
    db.session.commit()
    with pytest.raises(streaming.DownloadRevoked):
        for chunk in chunks:
            received += len(chunk)
    body.close()
    assert received < 3 * streaming.STREAM_CHUNK_SIZE


def test_ranges(client, pack, paid_order) -> None:
    _, token = paid_order
    url = listen_url(token, first_track(pack).id)
    full = client.get(url).data
    size = len(full)
    assert size > 1000

    def part(header: str):
        return client.get(url, headers={"Range": header})

    first = part("bytes=0-99")  # the first bytes, as a player starts
    assert first.status_code == 206 and first.data == full[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}" and first.headers["Content-Length"] == "100"
    middle = part("bytes=300-799")  # a seek
    assert middle.status_code == 206 and middle.data == full[300:800]
    assert middle.headers["Content-Range"] == f"bytes 300-799/{size}"
    suffix = part("bytes=-128")  # a reader of tags at the end
    assert suffix.status_code == 206 and suffix.data == full[-128:]
    assert suffix.headers["Content-Range"] == f"bytes {size - 128}-{size - 1}/{size}"
    # The last byte, and one past it.
    last = part(f"bytes={size - 1}-{size - 1}")
    assert last.status_code == 206 and last.data == full[-1:]
    assert part(f"bytes={size - 2}-{size}").data == full[-2:]  # a last position past the end is cut
    open_end = part(f"bytes={size - 1}-")
    assert open_end.status_code == 206 and open_end.data == full[-1:]
    for bad in (f"bytes={size}-", f"bytes={size}-{size + 10}", "bytes=50-10", "bytes=-0", "bytes=abc",
                "bytes=0-1,5-6"):
        response = part(bad)
        assert response.status_code == 416, bad
        assert response.headers["Content-Range"] == f"bytes */{size}", bad
    head = client.head(url, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206 and head.headers["Content-Length"] == "10" and head.data == b""


def test_listening_never_counts_as_a_download(app, pack, paid_order) -> None:
    client = buffered_client(app)
    order, token = paid_order
    url = listen_url(token, first_track(pack).id)
    size = int(client.head(url).headers["Content-Length"])
    client.get(url)
    client.get(url, headers={"Range": "bytes=100-"})
    client.get(url, headers={"Range": f"bytes=0-{size - 1}"})
    assert download_counts(order) == {}
    client.get(track_url(token, first_track(pack), "mp3-v0"))
    assert download_counts(order) == {("track", first_track(pack).id, "mp3-v0"): 1}


def test_x_accel_hand_off_is_inline_and_uncounted(app, client, pack, paid_order) -> None:
    order, token = paid_order
    app.config["X_ACCEL_REDIRECT"] = "/protected"
    response = client.get(listen_url(token, first_track(pack).id))
    assert response.headers["X-Accel-Redirect"].startswith("/protected/")
    assert response.headers["Content-Disposition"].startswith("inline; ")
    assert download_counts(order) == {}
