"""Album and pack zips of real-entropy FLAC files (several MB each, see ``noisy_album``), checked
by unzip, 7z, bsdtar, sha256sum and ``flac -t``, not only by the code that wrote them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import factories
from tests.catalog.test_encoding import run, tool
from tests.downloads.conftest import album_url, check_zip_everywhere, need_tool, pack_url, run_tool

REAL_ALBUM = ("Static Bloom", "Hiss Garden", "electronic", ["Tape Hiss", "Rain on Tin"])


@pytest.fixture
def real_pack(app, noisy_album: Path):
    """A pack of one real album (its FLAC files are the noisy masters) and the factory's first one."""
    masters = sorted(noisy_album.glob("*.flac"))

    def content(title: str, number: int, fmt: str) -> bytes | None:
        return masters[number - 1].read_bytes() if (title, fmt) == ("Hiss Garden", "flac") else None

    return factories.make_pack(app, albums=(REAL_ALBUM, factories.DEFAULT_ALBUMS[0]), formats=("flac", "opus"),
                               content=content)


def test_album_zip_of_real_flac_files(app, client, real_pack, noisy_album: Path, tmp_path: Path) -> None:
    _, token = factories.make_order(app, real_pack)
    response = client.get(album_url(token, real_pack.albums[0], "flac"))
    assert response.status_code == 200 and len(response.data) > 6 * 1024 * 1024
    folder = "Static Bloom - Hiss Garden (FLAC)"
    names = check_zip_everywhere(response.data, tmp_path)
    assert names == [f"{folder}/01 Tape Hiss.flac", f"{folder}/02 Rain on Tin.flac", f"{folder}/cover.png",
                     f"{folder}/SHA256SUMS"]
    out = tmp_path / "out"
    run_tool(need_tool("unzip"), "-q", tmp_path / "checked.zip", "-d", out)
    assert run_tool(need_tool("sha256sum"), "-c", "SHA256SUMS", cwd=out / folder).count(": OK") == 3
    for number, master in enumerate(sorted(noisy_album.glob("*.flac")), start=1):
        extracted = next((out / folder).glob(f"{number:02d} *.flac"))
        assert extracted.read_bytes() == master.read_bytes()
        tested = run(tool("flac"), "-t", "-s", extracted)
        assert tested.returncode == 0, tested.stderr.decode()


def test_pack_zip_with_real_flac_files(app, client, real_pack, tmp_path: Path) -> None:
    _, token = factories.make_order(app, real_pack)
    response = client.get(pack_url(token, "flac"))
    assert response.status_code == 200
    names = check_zip_everywhere(response.data, tmp_path)
    assert sorted({name.split("/")[0] for name in names}) == [
        "Static Bloom - Hiss Garden (FLAC)", "The Quiet Fires - Ember Line (FLAC)"]
