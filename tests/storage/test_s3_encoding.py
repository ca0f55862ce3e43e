"""Masters in S3: the import puts them there, the encoder fetches them back with ranged GETs
and puts every buyer file and the preview there under content-addressed keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.extensions import db
from shop.models import FORMATS, Pack
from shop.storage import get_storage
from tests.catalog.audio import write_album

pytestmark = pytest.mark.usefixtures("use_s3")


def test_import_and_encode_with_masters_in_s3(app, runner, client, tmp_path):
    write_album(tmp_path / "music" / "A - B", "A", "B", ["One"], seconds=2.0)

    result = runner.invoke(args=["catalog", "import", str(tmp_path / "music"), "--pack", "s3-pack", "--sync",
                                 "--workers", "1"])

    assert result.exit_code == 0, result.output
    pack = db.session.scalar(select(Pack).where(Pack.slug == "s3-pack"))
    assert pack.is_on_sale()
    [track] = pack.albums[0].tracks
    storage = get_storage()
    assert storage.local_path(track.master_key) is None and storage.exists(track.master_key)
    assert sorted(f.format for f in track.files) == sorted(FORMATS)
    for file in track.files:
        assert storage.size(file.storage_key) == file.size
    preview = client.get(f"/packs/s3-pack/tracks/{track.id}/preview.mp3")
    assert preview.status_code == 200 and len(preview.data) == track.preview_size
