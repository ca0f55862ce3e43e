"""Album and pack zips assembled from S3 objects with ranged GETs (moto server)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from shop.downloads.counting import download_counts
from shop.storage import get_storage
from shop.storage.s3 import S3Storage
from tests.downloads.conftest import album_url, check_zip_everywhere, pack_url, track_url

# Switch the app to S3 before any fixture puts catalog files into storage.
pytestmark = pytest.mark.usefixtures("use_s3")


@pytest.fixture
def get_object_ranges(app) -> list[str]:
    """The ``Range`` of every GetObject the app's S3 client sends."""
    storage = get_storage(app)
    assert isinstance(storage, S3Storage)
    seen: list[str] = []

    def remember(params: dict, **kwargs: object) -> None:
        seen.append(params.get("Range", "<none>"))

    storage.client.meta.events.register("provide-client-params.s3.GetObject", remember)
    return seen


def test_zip_from_s3_objects(client, pack, paid_order, get_object_ranges, tmp_path: Path) -> None:
    order, token = paid_order
    response = client.get(pack_url(token, "flac"))
    assert response.status_code == 200
    names = check_zip_everywhere(response.data, tmp_path)
    assert len(names) == 5 + 2 * 2
    # One ranged GET per stored member (5 tracks, 2 covers), each exactly its size.
    assert len(get_object_ranges) == 7
    assert all(r.startswith("bytes=0-") for r in get_object_ranges)
    assert download_counts(order) == {("pack", None, "flac"): 1}


def test_ranges_of_an_s3_zip_read_only_what_they_send(client, pack, paid_order,
                                                      get_object_ranges) -> None:
    _, token = paid_order
    url = album_url(token, pack.albums[0], "wav")
    full = client.get(url).data
    with zipfile.ZipFile(io.BytesIO(full)) as archive:
        second = archive.infolist()[1]
        data_start = second.header_offset + 30 + len(second.filename.encode())
    get_object_ranges.clear()
    response = client.get(url, headers={"Range": f"bytes={data_start + 100}-{data_start + 199}"})
    assert response.status_code == 206 and response.data == full[data_start + 100:data_start + 200]
    assert get_object_ranges == ["bytes=100-199"]
    for first in range(0, len(full), 997):
        part = client.get(url, headers={"Range": f"bytes={first}-{first + 1500}"})
        assert part.data == full[first:first + 1501]


def test_single_track_from_s3(client, pack, paid_order) -> None:
    _, token = paid_order
    track = pack.albums[0].tracks[1]
    response = client.get(track_url(token, track, "mp3-v0"))
    assert hashlib.sha256(response.data).hexdigest() == track.file("mp3-v0").sha256
    tail = client.get(track_url(token, track, "mp3-v0"), headers={"Range": "bytes=2000-"})
    assert tail.status_code == 206 and tail.data == response.data[2000:]
