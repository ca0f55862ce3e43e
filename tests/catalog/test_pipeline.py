"""Masters in, eight formats out: import, encode (here, or by the worker from the queue),
and what buyers then get, checked with Debian's ffprobe/ffmpeg as independent decoders."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from shop.catalog import jobs
from shop.catalog.encode_rows import ENCODE_FORMATS, claim
from shop.catalog.jobs import run_track, waiting_track_ids
from shop.extensions import db
from shop.formats import get_format
from shop.models import FORMATS, PREVIEW, Encode, EncodeStatus, Pack, Track, TrackFile, utcnow
from shop.storage import get_storage
from tests import factories
from tests.catalog.audio import write_album
from tests.catalog.snapshot import snapshot
from tests.catalog.test_encoding import EXPECTED_CODEC, decoded_seconds, ffprobe_audio
from tests.services import RedisServer, wait_until

SLUG = "masters-pack"
ROOT = Path(__file__).resolve().parents[2]


def import_masters(runner, folder: Path, *options: str):
    return runner.invoke(args=["catalog", "import", str(folder), "--pack", SLUG, *options])


def get_pack() -> Pack:
    db.session.expire_all()
    pack = db.session.scalar(select(Pack).where(Pack.slug == SLUG))
    assert pack is not None
    return pack


def album_of_masters(tmp_path: Path, titles=("One", "Two"), **kwargs) -> Path:
    # Short masters keep the suite quick: 2.75 s and 3 s (write_album adds a quarter per track).
    return write_album(tmp_path / "music" / "Ada - Masters", "Ada", "Masters", list(titles), seconds=2.5,
                       **kwargs).parent


def encodes(status: str | None = None) -> list[Encode]:
    db.session.expire_all()
    query = select(Encode).order_by(Encode.track_id, Encode.format)
    if status is not None:
        query = query.where(Encode.status == status)
    return list(db.session.scalars(query))


def test_import_sync_encodes_every_format_that_decodes_elsewhere_and_a_preview_clip(app, runner, client, tmp_path):
    music = album_of_masters(tmp_path, bits=24, rate=48000)

    result = import_masters(runner, music, "--sync", "--workers", "2")

    assert result.exit_code == 0, result.output
    assert "Encoding 2 track(s) in 2 process(es)" in result.output
    assert "Encoded 18 file(s) of 2 track(s); 0 failed." in result.output
    pack = get_pack()
    assert pack.is_on_sale() and not pack.is_preparing()
    media = Path(app.config["MEDIA_ROOT"])
    for track in pack.albums[0].tracks:
        assert [f.format for f in sorted(track.files, key=lambda f: FORMATS.index(f.format))] == list(FORMATS)
        assert {e.status for e in track.encodes} == {"done"}
        for file in track.files:
            path = media / file.storage_key
            assert file.storage_key.startswith("audio/") and path.suffix == f".{get_format(file.format).extension}"
            assert file.size == path.stat().st_size
            probed = ffprobe_audio(path)
            assert probed["codec_name"] == EXPECTED_CODEC[file.format].format(bits=24), file.format
            assert abs(decoded_seconds(path) - track.duration_ms / 1000) < 0.03, file.format
        # The preview: a clip of the track from the preview URL, never the track itself.
        response = client.get(f"/packs/{SLUG}/tracks/{track.id}/preview.mp3")
        assert response.status_code == 200 and response.mimetype == "audio/mpeg"
        clip = tmp_path / f"preview-{track.id}.mp3"
        clip.write_bytes(response.data)
        assert ffprobe_audio(clip)["codec_name"] == "mp3"
        seconds = decoded_seconds(clip)
        assert abs(seconds - track.preview_duration_ms / 1000) < 0.03
        assert abs(seconds - track.duration_ms / 2000) < 0.05  # a short track: half of it
        assert response.data not in {(media / f.storage_key).read_bytes() for f in track.files}

    status = runner.invoke(args=["catalog", "status", "--pack", SLUG])
    assert status.exit_code == 0, status.output
    assert "all files encoded" in status.output
    assert "MP3 V0   2/2 done" in status.output and "preview  2/2 done" in status.output

    before = snapshot(app)
    again = runner.invoke(args=["catalog", "encode", "--sync"])
    assert again.exit_code == 0 and "Nothing to encode" in again.output
    assert snapshot(app) == before


def test_a_pack_being_prepared_is_not_on_sale(app, runner, client, tmp_path):
    assert import_masters(runner, album_of_masters(tmp_path)).exit_code == 0
    pack = get_pack()
    assert pack.starts_at <= utcnow() < pack.ends_at
    assert pack.is_preparing() and not pack.is_on_sale()

    page = client.get(f"/packs/{SLUG}").data.decode()
    assert "Coming soon: we are preparing the files" in page and "Buy the pack" not in page
    assert "coming soon: preparing files" in client.get("/").data.decode()
    refused = client.post(f"/packs/{SLUG}/buy", data={"amount": "10.00", "email": "a@example.com"})
    assert refused.status_code == 410 and "preparing the files" in refused.data.decode()
    assert "being prepared" in runner.invoke(args=["catalog", "status"]).output

    result = runner.invoke(args=["catalog", "encode", "--sync", "--workers", "1"])

    assert result.exit_code == 0, result.output
    assert get_pack().is_on_sale()
    assert "Buy the pack" in client.get(f"/packs/{SLUG}").data.decode()


def test_a_job_that_dies_mid_way_leaves_no_half_row_and_a_rerun_gives_the_same_bytes(app, runner, monkeypatch,
                                                                                    tmp_path):
    assert import_masters(runner, album_of_masters(tmp_path)).exit_code == 0
    first, second = (t.id for t in get_pack().albums[0].tracks)
    real_encode_one = jobs.encode_one
    made: list[str] = []

    def dies_on_the_fourth(task, fmt, info=None):
        if len(made) == 3:
            raise MemoryError("killed")
        made.append(fmt)
        return real_encode_one(task, fmt, info)

    monkeypatch.setattr(jobs, "encode_one", dies_on_the_fourth)
    with pytest.raises(MemoryError):
        run_track(first)

    db.session.expire_all()
    track = db.session.get(Track, first)
    done = {e.format for e in track.encodes if e.status == "done"}
    assert done == set(made) == {"mp3-v0", "mp3-320", "aac"}
    assert {f.format for f in track.files} == done  # a file row only with its done encode
    waiting = [e for e in track.encodes if e.status != "done"]
    assert {(e.status, e.attempts) for e in waiting} == {("pending", 1)}
    assert all("MemoryError: killed" in e.error for e in waiting)

    # A worker killed outright (no clean-up at all) leaves running rows: stale after a while.
    assert claim(second, "job:dead-worker") == ENCODE_FORMATS
    assert second not in waiting_track_ids()
    db.session.execute(update(Encode).where(Encode.track_id == second)
                       .values(heartbeat_at=utcnow() - jobs.STALE_AFTER - timedelta(seconds=1)))
    db.session.commit()
    assert waiting_track_ids() == [first, second]

    monkeypatch.setattr(jobs, "encode_one", real_encode_one)
    assert run_track(first).startswith("encoded opus, flac")
    assert run_track(second).startswith("encoded mp3-v0")
    assert get_pack().is_on_sale()
    assert {(e.format, e.attempts) for e in encodes() if e.track_id == second} == {(f, 2) for f in ENCODE_FORMATS}

    # Encoding again from scratch lands on the same keys with the same bytes.
    rows = {(f.track_id, f.format): (f.storage_key, f.sha256) for f in db.session.scalars(select(TrackFile))}
    previews = {t.id: t.preview_key for t in db.session.scalars(select(Track))}
    blobs = snapshot(app)[1]
    db.session.execute(update(Encode).values(status=EncodeStatus.PENDING.value))
    db.session.commit()
    result = runner.invoke(args=["catalog", "encode", "--sync", "--workers", "1"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert {(f.track_id, f.format): (f.storage_key, f.sha256) for f in db.session.scalars(select(TrackFile))} == rows
    assert {t.id: t.preview_key for t in db.session.scalars(select(Track))} == previews
    assert snapshot(app)[1] == blobs  # not even rewritten


def test_a_corrupt_master_fails_with_its_name_and_the_reason(app, runner, tmp_path):
    assert import_masters(runner, album_of_masters(tmp_path)).exit_code == 0
    track = get_pack().albums[0].tracks[1]
    master = Path(app.config["MEDIA_ROOT"]) / track.master_key
    data = master.read_bytes()
    master.write_bytes(data[: len(data) // 2])  # damaged in storage after the import

    result = runner.invoke(args=["catalog", "encode", "--sync", "--workers", "1"])

    assert result.exit_code == 1
    assert f"master of Ada - Masters, track 2 'Two' ({track.master_key}) refused: corrupt audio" in result.output
    failed = encodes("failed")
    assert {e.track_id for e in failed} == {track.id} and len(failed) == len(ENCODE_FORMATS)
    assert all(track.master_key in e.error for e in failed)
    assert not get_pack().is_on_sale()
    status = runner.invoke(args=["catalog", "status", "--pack", SLUG]).output
    assert "MP3 V0   1/2 done (1 failed)" in status
    assert "FAILED Masters #2 'Two' flac (attempt 1): master of Ada - Masters" in status

    master.write_bytes(data)  # restored: a retry succeeds
    assert runner.invoke(args=["catalog", "encode", "--sync", "--workers", "1"]).exit_code == 0
    assert get_pack().is_on_sale()


def test_the_worker_encodes_from_the_encoding_queue(app, runner, tmp_path):
    redis_server = RedisServer().start()
    try:
        app.config["REDIS_URL"] = redis_server.url
        result = import_masters(runner, album_of_masters(tmp_path, titles=("One",)))
        assert result.exit_code == 0, result.output
        assert "Queued 1 track(s) for encoding (queue 'encoding')" in result.output
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SHOP_ENV": "testing", "SHOP_SECRET_KEY": "x",
               "SHOP_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
               "SHOP_MEDIA_ROOT": app.config["MEDIA_ROOT"], "SHOP_REDIS_URL": redis_server.url,
               "SHOP_BASE_URL": "http://shop.test"}
        worker = subprocess.run([sys.executable, "-m", "flask", "--app", "shop", "worker", "--burst"], env=env,
                                cwd=ROOT, capture_output=True, timeout=120, check=False)
        assert worker.returncode == 0, worker.stderr.decode()[-2000:]
        assert wait_until(lambda: get_pack().is_on_sale(), timeout=5), worker.stderr.decode()[-2000:]
        assert len(encodes("done")) == len(ENCODE_FORMATS)
    finally:
        redis_server.stop()


def test_preview_url_of_a_track_without_a_clip_is_a_404(app, client):
    pack = factories.make_pack(app, previews=False)
    track = pack.albums[0].tracks[0]
    assert track.preview_key is None and track.files
    assert client.get(f"/packs/{pack.slug}/tracks/{track.id}/preview.mp3").status_code == 404
    assert "<audio" not in client.get(f"/packs/{pack.slug}").data.decode()


def test_encode_and_status_name_unknown_packs(runner):
    assert "no pack 'nope'" in runner.invoke(args=["catalog", "encode", "--pack", "nope"]).output
    assert "no pack 'nope'" in runner.invoke(args=["catalog", "status", "--pack", "nope"]).output


def test_the_preview_is_content_addressed_beside_the_buyer_files(app, runner, tmp_path):
    music = album_of_masters(tmp_path, titles=("One",))
    assert import_masters(runner, music, "--sync", "--workers", "1").exit_code == 0
    track = get_pack().albums[0].tracks[0]
    assert track.preview_key.startswith("previews/") and track.preview_key.endswith(".mp3")
    assert len(get_storage().read_bytes(track.preview_key)) == track.preview_size
    assert PREVIEW not in FORMATS and 0 < track.preview_duration_ms < track.duration_ms
