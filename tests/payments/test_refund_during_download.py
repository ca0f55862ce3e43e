"""A full refund stops a download that is already streaming, over a real HTTP server."""

from __future__ import annotations

import functools

import pytest
import requests

from shop.downloads import streaming, views
from shop.payments.refunds import refund_order
from shop.storage import get_storage
from tests import factories
from tests.payments.conftest import Buyer, Emulated, order_now, order_token

TRACK_SIZE = 8 * 1024 * 1024  # well beyond what the loopback socket buffers hold
CHUNK = 64 * 1024


@pytest.fixture
def big_pack(app):
    return factories.make_pack(app, slug="big-pack", albums=(("Long Player", "Drone", "ambient", ["Hour"]),),
                               file_size=TRACK_SIZE)


def test_a_refund_stops_a_download_under_way(app, big_pack, buyer: Buyer, emulated: Emulated, store_server,
                                             monkeypatch):
    monkeypatch.setattr(views, "stream", functools.partial(streaming.stream, chunk_size=CHUNK))
    monkeypatch.setattr(streaming, "REVOCATION_CHECK_CHUNKS", 4)
    monkeypatch.setattr(streaming, "REVOCATION_CHECK_SECONDS", 0.05)
    checkout = buyer.buy(big_pack.slug, "12.00")
    back = buyer.come_back(emulated.pay(checkout.session_id)["redirect"])
    token = order_token(back)
    track = big_pack.albums[0].tracks[0]
    url = f"{store_server.base_url}/orders/{token}/tracks/{track.id}/flac"

    received = 0
    with requests.Session() as web:
        web.trust_env = False
        response = web.get(url, stream=True, timeout=10)
        assert response.status_code == 200 and int(response.headers["Content-Length"]) == TRACK_SIZE
        chunks = response.iter_content(CHUNK)
        received += len(next(chunks))
        refund_order(checkout.order_id)
        emulated.wait()
        assert order_now(checkout.order_id).status == "refunded"
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in chunks:
                received += len(chunk)
        response.close()
    assert CHUNK <= received < TRACK_SIZE
    # And a new request for it is refused outright.
    with requests.Session() as web:
        web.trust_env = False
        assert web.get(url, timeout=10).status_code == 404


def test_the_stream_asks_every_few_chunks_and_stops_when_told(app):
    pack = factories.make_pack(app, slug="small-pack", albums=(("A", "B", "rock", ["One"]),), file_size=5000)
    file = pack.albums[0].tracks[0].files[0]
    source = streaming.ByteSource.blob(file.storage_key, file.size)
    asked: list[int] = []

    def allowed() -> bool:
        asked.append(1)
        return True

    whole = b"".join(streaming.stream(source, get_storage(), 0, source.size, chunk_size=100, still_allowed=allowed))
    assert len(whole) == 5000 and len(asked) == 50 // streaming.REVOCATION_CHECK_CHUNKS
    stopped = streaming.stream(source, get_storage(), 0, source.size, chunk_size=100, still_allowed=lambda: False)
    with pytest.raises(streaming.DownloadRevoked):
        b"".join(stopped)
