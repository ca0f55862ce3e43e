"""`flask catalog demo`: a real pack whose files decode, built through the importer and the encoder."""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import soundfile as sf
from sqlalchemy import select

from shop.catalog.demo.png import encode_png
from shop.extensions import db
from shop.models import FORMATS, Pack
from tests.catalog.snapshot import snapshot
from tests.catalog.test_encoding import EXPECTED_CODEC, ffprobe_audio


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into ``(type, data)`` chunks, checking the signature and every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        offset += 12 + length
    return chunks


def decode_png_rgb(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw scanlines of an 8-bit RGB, non-interlaced PNG."""
    chunks = png_chunks(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (1 + 3 * width)
    assert all(raw[row * (1 + 3 * width)] <= 4 for row in range(height))
    return width, height, raw


def test_png_encoder_round_trips_pixels():
    pixels = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    width, height, raw = decode_png_rgb(encode_png(pixels))
    assert (width, height) == (7, 5)
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(5, 1 + 21)
    assert (rows[:, 0] == 1).all()  # the Sub filter: undo it
    decoded = np.cumsum(rows[:, 1:].reshape(5, 7, 3).astype(np.int64), axis=1) % 256
    assert (decoded == pixels).all()


def test_demo_builds_a_pack_that_plays_and_a_second_run_changes_nothing(app, runner):
    result = runner.invoke(args=["catalog", "demo"])

    assert result.exit_code == 0, result.output
    assert "albums 4 added" in result.output and "masters 14 added" in result.output
    assert "Encoded 126 files of 14 tracks" in result.output
    pack = db.session.scalar(select(Pack).where(Pack.slug == "demo-pack"))
    assert pack.is_on_sale()
    assert pack.ends_at - pack.starts_at == timedelta(days=14)
    assert (pack.min_price_cents, pack.suggested_price_cents, pack.currency) == (100, 800, "USD")
    assert pack.blurb
    assert [a.genre for a in pack.albums] == ["Rock", "Electronic", "Indie / Alternative", "Comedy"]
    assert any(not a.artist.isascii() for a in pack.albums)

    media = Path(app.config["MEDIA_ROOT"])
    hashes = set()
    for album in pack.albums:
        assert 3 <= len(album.tracks) <= 4
        width, height, _ = decode_png_rgb((media / album.cover_key).read_bytes())
        assert (width, height) == (600, 600)
        for track in album.tracks:
            assert 8_000 <= track.duration_ms <= 15_000, (album.title, track.title)
            assert (track.master_codec, track.sample_rate, track.bit_depth) == ("flac", 44100, 16)
            master, rate = sf.read(media / track.master_key, dtype="float32")
            assert rate == 44100 and len(master) * 1000 // rate in (track.duration_ms, track.duration_ms - 1)
            assert 0.3 < np.max(np.abs(master)) <= 1.0
            assert np.sqrt(np.mean(master**2)) > 0.02, f"{track.title} is nearly silent"
            assert sorted(f.format for f in track.files) == sorted(FORMATS)
            assert track.preview_key and 0 < track.preview_duration_ms <= track.duration_ms // 2 + 30
            hashes.update(f.sha256 for f in track.files)
        # One track per album through an independent decoder, every format.
        for file in album.tracks[0].files:
            assert ffprobe_audio(media / file.storage_key)["codec_name"] == EXPECTED_CODEC[file.format].format(bits=16)
    assert len(hashes) == 14 * len(FORMATS)
    assert len({a.cover_sha256 for a in pack.albums}) == 4

    before = snapshot(app)
    again = runner.invoke(args=["catalog", "demo"])

    assert again.exit_code == 0, again.output
    assert "Nothing changed" in again.output
    assert snapshot(app) == before


def test_demo_under_another_slug(app, runner, pack):
    result = runner.invoke(args=["catalog", "demo", "--slug", "bad slug"])
    assert result.exit_code == 1
    assert "must be lowercase letters" in result.output
