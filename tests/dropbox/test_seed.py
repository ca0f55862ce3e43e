"""The seed: upload once, skip what is there, mint and record copy references."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.dropbox.models import AlbumFolderRef
from shop.dropbox.seed import albums_in_scope, run_seed, seed_albums
from shop.extensions import db
from shop.models import FORMATS, TrackFile, utcnow
from tests import factories
from tests.dropbox.conftest import APP_KEY, STORE_EMAIL
from tests.services import ROOT, worker_env

# The factory pack: 5 tracks on 2 albums, each in every buyer format.
FILES = 5 * len(FORMATS)


def store_bytes_uploaded(emulator) -> int:
    return emulator.stats.as_json()["accounts"].get(STORE_EMAIL, {}).get("bytes_uploaded", 0)


def test_seed_uploads_every_file_and_records_references(app, emulator):
    pack = factories.make_pack(app)
    files = db.session.scalars(select(TrackFile)).all()
    summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    assert summary.failed == 0
    assert summary.uploaded == len(files) == FILES
    assert summary.references_minted == len(files) + 2 * len(FORMATS)  # every file, every album-and-format folder
    assert store_bytes_uploaded(emulator) == sum(f.size for f in files)

    remote = {f["path_display"]: f for f in emulator.list_files(STORE_EMAIL, APP_KEY)}
    for file in files:
        assert file.copy_ref and file.copy_ref_expires_at > utcnow()
        assert remote[file.dropbox_path]["content_hash"] == file.dropbox_content_hash
    folders = db.session.scalars(select(AlbumFolderRef)).all()
    assert len(folders) == 2 * len(FORMATS) and all(f.copy_ref and f.file_count in (2, 3) for f in folders)


def test_second_seed_uploads_zero_bytes_and_keeps_references(app, emulator):
    pack = factories.make_pack(app)
    run_seed(albums_in_scope(pack_slug=pack.slug))
    refs_before = {f.id: f.copy_ref for f in db.session.scalars(select(TrackFile))}
    emulator.stats.reset()
    summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    assert summary.uploaded == 0 and summary.references_minted == 0 and summary.failed == 0
    assert summary.skipped == FILES
    assert store_bytes_uploaded(emulator) == 0
    assert "files/upload" not in emulator.stats.as_json()["calls"]
    assert {f.id: f.copy_ref for f in db.session.scalars(select(TrackFile))} == refs_before


def test_missing_and_expired_references_are_minted_again(app, emulator):
    pack = factories.make_pack(app)
    run_seed(albums_in_scope(pack_slug=pack.slug))
    first, second = db.session.scalars(select(TrackFile).order_by(TrackFile.id).limit(2)).all()
    first.copy_ref = None
    second.copy_ref_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    assert summary.references_minted == 2 and summary.uploaded == 0
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.copy_ref and second.copy_ref_expires_at > utcnow()


def test_changed_remote_file_is_uploaded_again(app, emulator):
    pack = factories.make_pack(app)
    run_seed(albums_in_scope(pack_slug=pack.slug))
    victim = db.session.scalars(select(TrackFile).order_by(TrackFile.id)).first()
    emulator.seed_file(STORE_EMAIL, APP_KEY, victim.dropbox_path, b"something else")
    summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    assert summary.uploaded == 1 and summary.skipped == FILES - 1
    remote = {f["path_display"]: f for f in emulator.list_files(STORE_EMAIL, APP_KEY)}
    assert remote[victim.dropbox_path]["content_hash"] == victim.dropbox_content_hash


def test_dry_run_changes_nothing(app, emulator):
    pack = factories.make_pack(app)
    summary = run_seed(albums_in_scope(pack_slug=pack.slug), dry_run=True)
    assert summary.uploaded == FILES and summary.failed == 0
    assert emulator.list_files(STORE_EMAIL, APP_KEY) == []
    db.session.expire_all()
    assert all(f.copy_ref is None for f in db.session.scalars(select(TrackFile)))
    assert db.session.scalars(select(AlbumFolderRef)).all() == []


def test_scope_by_album(app, emulator):
    pack = factories.make_pack(app)
    album = pack.albums[1]
    summary = run_seed(albums_in_scope(album_id=album.id))
    assert summary.uploaded == 2 * len(FORMATS)  # 2 tracks in every format


def test_seed_command_and_script_share_code_options_and_exit_status(app, runner, emulator):
    pack = factories.make_pack(app)
    result = runner.invoke(args=["dropbox", "seed", "--pack", pack.slug, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"Dry run: would have uploaded {FILES} files" in result.output

    env = worker_env(app)
    script = subprocess.run([sys.executable, "scripts/dropbox_seed.py", "--pack", pack.slug], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr
    assert f"uploaded {FILES} files" in script.stdout and "failed 0" in script.stdout

    again = subprocess.run([sys.executable, "scripts/dropbox_seed.py", "--pack", pack.slug], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert f"uploaded 0 files (0.0 MiB), skipped {FILES}" in again.stdout

    missing = runner.invoke(args=["dropbox", "seed", "--pack", "no-such-pack"])
    assert missing.exit_code == 1


def test_seed_failures_are_counted_and_exit_non_zero(app, runner, emulator):
    factories.make_pack(app)
    emulator.add_fault({"route": "files/upload", "status": 500, "count": 2})
    result = runner.invoke(args=["dropbox", "seed"])
    assert result.exit_code == 1
    assert "failed 2" in result.output
    # The next run finishes the job.
    result = runner.invoke(args=["dropbox", "seed"])
    assert result.exit_code == 0 and "uploaded 2 files" in result.output


def test_seed_without_a_linked_store_account_says_so(app, runner):
    app.config["DROPBOX_STORE_REFRESH_TOKEN"] = None
    factories.make_pack(app)
    result = runner.invoke(args=["dropbox", "seed"])
    assert result.exit_code == 2
    assert "link-store" in result.output


def test_the_seed_job_seeds_and_can_remint_ahead(app, emulator):
    """What the worker runs for the console (``shop/admin/seeding.py`` queues it)."""
    pack = factories.make_pack(app)
    album_ids = [album.id for album in pack.albums]
    references = FILES + 2 * len(FORMATS)
    assert seed_albums(album_ids) == f"{FILES} uploaded, 0 already there, {references} references minted, 0 failed"
    # References expiring before the given time count as expired: all of them are minted again.
    ahead = (utcnow() + timedelta(days=365 * 30)).isoformat()  # the emulator's references live 20 years
    again = seed_albums(album_ids, ahead)
    assert again == f"0 uploaded, {FILES} already there, {references} references minted, 0 failed"
    app.config["DROPBOX_STORE_REFRESH_TOKEN"] = None
    assert seed_albums(album_ids).startswith("not run: ")


def _big_track_pack(app, size: int):
    """A pack whose one track is ``size`` bytes in FLAC (the other formats stay small)."""
    import os

    from shop.catalog.hashing import digest_file, storage_key
    from shop.storage import get_storage

    pack = factories.make_pack(app, slug="big", albums=(("Big Band", "Long Play", "rock", ["Epic"]),))
    flac = pack.albums[0].tracks[0].file("flac")
    path = app.instance_path + "/big.flac"
    os.makedirs(app.instance_path, exist_ok=True)
    with open(path, "wb") as fh:
        for _ in range(size // (1 << 20)):
            fh.write(os.urandom(1 << 20))
        fh.write(os.urandom(size % (1 << 20)))
    d = digest_file(path)
    flac.storage_key = storage_key("audio", d.sha256, "flac")
    get_storage(app).put_file(flac.storage_key, path)
    os.unlink(path)
    flac.size, flac.crc32, flac.sha256, flac.dropbox_content_hash = d.size, d.crc32, d.sha256, d.dropbox_content_hash
    db.session.commit()
    return pack, flac


def test_large_files_go_through_an_upload_session(app, emulator, monkeypatch):
    from shop.dropbox import seed

    # The same code path as a 150 MiB+ file, at a size a unit test can afford.
    monkeypatch.setattr(seed, "SINGLE_UPLOAD_LIMIT", 1 << 20)
    monkeypatch.setattr(seed, "SESSION_CHUNK", 1 << 19)
    pack, flac = _big_track_pack(app, (1 << 21) + 12345)
    summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    assert summary.failed == 0, summary.failures
    calls = emulator.stats.as_json()["calls"]
    assert calls["files/upload_session/start"] == 1
    assert calls["files/upload_session/append_v2"] == 4
    assert calls["files/upload_session/finish"] == 1
    remote = {f["path_display"]: f for f in emulator.list_files(STORE_EMAIL, APP_KEY)}
    assert remote[flac.dropbox_path]["content_hash"] == flac.dropbox_content_hash
    assert remote[flac.dropbox_path]["size"] == flac.size


@pytest.mark.slow
def test_a_file_over_150_mib_is_seeded(app, emulator):
    pack, flac = _big_track_pack(app, 151 * 1024 * 1024)
    summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    assert summary.failed == 0, summary.failures
    assert emulator.stats.as_json()["calls"]["files/upload_session/finish"] == 1
    remote = {f["path_display"]: f for f in emulator.list_files(STORE_EMAIL, APP_KEY)}
    assert remote[flac.dropbox_path]["content_hash"] == flac.dropbox_content_hash


def test_real_entropy_files_are_seeded_whole(app, emulator, noisy_album):
    """FLAC files of several MB of noise-rich audio (``noisy_album``) reach the store's Dropbox
    with the content hash computed here."""
    masters = sorted(noisy_album.glob("*.flac"))
    pack = factories.make_pack(app, slug="real", albums=(("Static Bloom", "Hiss Garden", "electronic",
                                                          ["Tape Hiss", "Rain on Tin"]),),
                               formats=("flac",), content=lambda title, number, fmt: masters[number - 1].read_bytes())
    files = db.session.scalars(select(TrackFile)).all()
    assert [f.size for f in files] == [m.stat().st_size for m in masters]
    summary = run_seed(albums_in_scope(pack_slug=pack.slug))
    assert summary.failed == 0, summary.failures
    assert summary.uploaded == 2 and store_bytes_uploaded(emulator) == sum(f.size for f in files)
    remote = {f["path_display"]: f for f in emulator.list_files(STORE_EMAIL, APP_KEY)}
    for file in files:
        assert remote[file.dropbox_path]["content_hash"] == file.dropbox_content_hash
        assert remote[file.dropbox_path]["size"] == file.size and file.copy_ref
