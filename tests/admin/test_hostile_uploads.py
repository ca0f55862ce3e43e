"""Hostile and unusual uploads in the console (security review L7): each one a 400 that names
the file and says why, with nothing written (no rows, no blobs in media storage)."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from mutagen.id3 import TRCK
from mutagen.wave import WAVE

from shop.catalog.encode_rows import MAX_ATTEMPTS
from shop.catalog.encode_sync import encode_now
from shop.catalog.jobs import waiting_track_ids
from shop.extensions import db
from shop.models import Album, Track
from tests import factories
from tests.admin.conftest import audit_rows
from tests.admin.test_packs import album_files, upload
from tests.catalog import hostile
from tests.catalog.audio import write_album, write_track
from tests.catalog.snapshot import storage_files


def _album(tmp_path: Path, formats: tuple[str, ...] = ("flac",), **options) -> Path:
    return write_album(tmp_path / "Quiet Harbour - Low Tide", "Quiet Harbour", "Low Tide", ["Gulls", "Fog"],
                       formats=formats, seconds=0.5, **options)


def _zipped(folder: Path, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    return hostile.zip_of([(f"{folder.name}/{name}", body) for name, body in album_files(folder)], compression)


def _first_member(folder: Path) -> str:
    return f"{folder.name}/{album_files(folder)[0][0]}"


def encrypted_zip(tmp_path: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    folder = _album(tmp_path)
    return [("album.zip", hostile.with_encryption_flag(_zipped(folder)))], \
        [_first_member(folder), "is encrypted", "without a password"]


def deflate64_zip(tmp_path: Path):
    folder = _album(tmp_path)
    return [("album.zip", hostile.with_compression_method(_zipped(folder), 9))], \
        [_first_member(folder), "compression method 9 (Deflate64)", "cannot unpack"]


def ppmd_zip(tmp_path: Path):
    folder = _album(tmp_path)
    return [("album.zip", hostile.with_compression_method(_zipped(folder), 98))], \
        [_first_member(folder), "compression method 98 (PPMd)"]


def damaged_deflate_zip(tmp_path: Path):
    folder = _album(tmp_path)
    return [("album.zip", hostile.with_damaged_first_member(_zipped(folder)))], \
        [_first_member(folder), "is corrupt or truncated"]


def damaged_bzip2_zip(tmp_path: Path):
    folder = _album(tmp_path)
    return [("album.zip", hostile.with_damaged_first_member(_zipped(folder, zipfile.ZIP_BZIP2)))], \
        [_first_member(folder), "is corrupt"]


def damaged_lzma_zip(tmp_path: Path):
    folder = _album(tmp_path)
    return [("album.zip", hostile.with_damaged_first_member(_zipped(folder, zipfile.ZIP_LZMA)))], \
        [_first_member(folder), "is corrupt or truncated"]


def truncated_zip(tmp_path: Path):
    folder = _album(tmp_path)
    return [("album.zip", hostile.truncated(_zipped(folder)))], ["the zip cannot be read"]


def huge_flac_track_number(tmp_path: Path):
    folder = _album(tmp_path)
    hostile.retag_flac(folder / "02 Fog.flac", tracknumber="99999999999999999999")
    return album_files(folder), ["02 Fog.flac", "the track number tag says 99999999999999999999", "1 to 9999"]


def above_int32_track_number(tmp_path: Path):
    folder = _album(tmp_path)
    hostile.retag_flac(folder / "01 Gulls.flac", tracknumber="2147483648/2")
    return album_files(folder), ["01 Gulls.flac", "the track number tag says 2147483648"]


def huge_id3_track_number(tmp_path: Path):
    folder = _album(tmp_path, formats=("wav",))
    wav = WAVE(folder / "01 Gulls.wav")
    wav.tags.add(TRCK(encoding=3, text="99999999999"))
    wav.save()
    return album_files(folder), ["01 Gulls.wav", "the track number tag says 99999999999"]


def zero_bit_wav(tmp_path: Path):
    folder = _album(tmp_path, formats=("wav",), rate=96000)
    hostile.patch_wav_format(folder / "02 Fog.wav", bits=0)
    # Zipped: loose, these 96 kHz files meet the multipart parser's 64 KiB form-memory
    # refusal (review F1, fixed on another branch) before the import sees them.
    return [("album.zip", _zipped(folder))], ["02 Fog.wav", "0 bits per sample"]


def unknown_wav_format_tag(tmp_path: Path):
    folder = _album(tmp_path, formats=("wav",))
    hostile.patch_wav_format(folder / "01 Gulls.wav", format_tag=0x1234)
    return album_files(folder), ["01 Gulls.wav", "no audio codec the store can decode"]


def truncated_flac(tmp_path: Path):
    folder = _album(tmp_path)
    write_track(folder / "02 Fog.flac", 3.0, title="Fog", artist="Quiet Harbour", album="Low Tide", number="2")
    path = folder / "02 Fog.flac"
    path.write_bytes(hostile.truncated(path.read_bytes()))
    return album_files(folder), ["02 Fog.flac", "corrupt audio"]


CASES: list[Callable[[Path], tuple[list[tuple[str, bytes]], list[str]]]] = [
    encrypted_zip, deflate64_zip, ppmd_zip, damaged_deflate_zip, damaged_bzip2_zip, damaged_lzma_zip,
    truncated_zip, huge_flac_track_number, above_int32_track_number, huge_id3_track_number, zero_bit_wav,
    unknown_wav_format_tag, truncated_flac,
]


@pytest.mark.parametrize("make", CASES, ids=lambda make: make.__name__)
def test_hostile_uploads_are_refused_by_name_and_change_nothing(app, admin_client, new_pack, tmp_path, make):
    files, expected = make(tmp_path)
    before = storage_files(app)

    response = upload(admin_client, new_pack.id, files)

    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    for part in expected:
        assert part in error
    # The operator sees the file's name, not where this server staged it.
    assert "admin-upload-" not in error
    assert db.session.scalar(db.select(db.func.count(Album.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Track.id))) == 0
    assert storage_files(app) == before == {}
    assert audit_rows()[-1].action in ("pack.upload.refused", "pack_upload.attempt")


# ------------------------------------------------------------------ L8: covers


@pytest.mark.parametrize("cover_name, cover, expected", [
    ("cover.png", hostile.padded(hostile.noise_image(64, 64), 17 * 1024 * 1024),
     "cover.png: the image is 17.0 MB; a cover may have at most 10.0 MB"),
    ("cover.png", hostile.png_of_zeros(40_000, 40_000), "cover.png: the image has more than 40 megapixels"),
    ("cover.jpg", hostile.truncated(hostile.noise_image(300, 300, "JPEG"), 0.3),
     "cover.jpg: the image cannot be decoded"),
], ids=["17-MiB-padded-png", "gigapixel-png", "truncated-jpeg"])
def test_hostile_covers_are_refused_by_name(app, admin_client, new_pack, tmp_path, cover_name, cover, expected):
    folder = _album(tmp_path, cover=False)
    (folder / cover_name).write_bytes(cover)

    response = upload(admin_client, new_pack.id, [("album.zip", _zipped(folder))])

    assert response.status_code == 400, response.data
    assert expected in response.get_json()["error"]
    assert db.session.scalar(db.select(db.func.count(Album.id))) == 0 and storage_files(app) == {}


def _fail_every_encode_with_the_cover(app, album: Album, cover: bytes) -> None:
    """Give ``album`` a cover no encoder can embed, as imports before covers were decoded
    could store one, and run its encodes for real until they have all failed.

    (The review's 17 MiB PNG fails them too, but only after minutes of tagging each Opus
    file with it; a GIF fails at once.)"""
    key, digests = factories.store_blob(app, cover, "covers", "png")
    album.cover_key, album.cover_size = key, digests.size
    album.cover_crc32, album.cover_sha256 = digests.crc32, digests.sha256
    db.session.commit()
    for _ in range(MAX_ATTEMPTS):
        encode_now(waiting_track_ids(pack_id=album.pack_id), workers=1)
    db.session.expire_all()
    assert {e.status for t in album.tracks for e in t.encodes} >= {"failed"}
    assert not any(t.files for t in album.tracks)


def test_a_reupload_replaces_the_cover_of_an_album_whose_encodes_failed(app, admin_client, new_pack, tmp_path):
    folder = _album(tmp_path)
    assert upload(admin_client, new_pack.id, album_files(folder)).status_code == 200
    album = db.session.scalar(db.select(Album))
    _fail_every_encode_with_the_cover(app, album, hostile.noise_image(64, 64, "GIF"))
    progress = admin_client.get(f"/admin/packs/{new_pack.id}/progress").get_json()
    assert progress["albums"][0]["state"] == "failed"
    assert any("fix the master and upload it again" in gap for gap in progress["missing"])

    again = upload(admin_client, new_pack.id, album_files(folder))

    assert again.status_code == 200, again.data
    answer = again.get_json()
    assert answer["albums"][0]["status"] == "extended" and answer["tracks_to_encode"] == 2
    assert any("replaces the one whose encodes failed" in note for note in answer["albums"][0]["notes"])
    db.session.expire_all()
    stored = (Path(app.config["MEDIA_ROOT"]) / album.cover_key).read_bytes()
    assert len(stored) < 64 * 1024 and album.cover_sha256 == hashlib.sha256(stored).hexdigest()
    assert {(e.status, e.attempts) for t in album.tracks for e in t.encodes} == {("pending", 0)}
    summary = encode_now(waiting_track_ids(pack_id=new_pack.id), workers=1)
    assert not summary.failures
    progress = admin_client.get(f"/admin/packs/{new_pack.id}/progress").get_json()
    assert progress["albums"][0]["state"] in ("encoded", "ready") and progress["missing"] == []


def test_the_cover_of_an_album_with_buyer_files_stays(app, admin_client, new_pack, tmp_path):
    folder = _album(tmp_path)
    assert upload(admin_client, new_pack.id, album_files(folder)).status_code == 200
    assert not encode_now(waiting_track_ids(pack_id=new_pack.id), workers=1).failures
    (folder / "cover.png").write_bytes(hostile.noise_image(32, 32, seed=9))

    response = upload(admin_client, new_pack.id, album_files(folder))

    assert response.status_code == 400
    assert "the cover (cover.png) differs from the one in the catalog" in response.get_json()["error"]
