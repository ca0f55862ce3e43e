"""Encoding buyer formats and previews from lossless masters, checked by independent tools.

Every encoded file is decoded by Debian's ``ffmpeg``/``ffprobe`` (and FLAC by ``flac -t``),
not by the PyAV that wrote it; tags are read back with mutagen. ``make test`` installs the
tools (``scripts/install_system_deps.sh``); without them these tests skip on a developer
machine and fail in CI.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from mutagen.aiff import AIFF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from shop.catalog.encoding import EncodedFile, encode
from shop.catalog.masters import MasterError, probe_master
from shop.catalog.previews import make_preview, preview_window
from shop.catalog.tag_writing import TrackTags
from shop.catalog.tags import read_tags
from shop.formats import FORMAT_IDS, FORMATS, canonical_format_id, get_format
from tests.catalog.audio import png_bytes, write_track

TAGS = TrackTags(
    title="Señales de humo",
    artist="Los Prismas",
    album="Tres Noches",
    album_artist="Los Prismas & Friends",
    number=3,
    total=12,
    year=2024,
    genre="Indie",
)
COVER = png_bytes(seed=7, size=16)
DURATION_TOLERANCE = 0.050


@dataclass(frozen=True)
class Master:
    path: Path
    rate: int
    bits: int
    channels: int
    seconds: float


MASTER_SPECS = {
    "flac-16-44k-stereo": ("FLAC", "PCM_16", 44100, 2, 3.0),
    "wav-24-96k-stereo": ("WAV", "PCM_24", 96000, 2, 2.5),
    "aiff-24-48k-mono": ("AIFF", "PCM_24", 48000, 1, 2.0),
}


def signal(seconds: float, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    """A tone per channel with some noise: real music-like content, every bit in use."""
    t = np.arange(round(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    columns = [
        0.35 * np.sin(2 * np.pi * (330.0 + 110.0 * c) * t) + 0.05 * rng.standard_normal(t.size)
        for c in range(channels)
    ]
    return np.stack(columns, axis=1)


def write_master(path: Path, container: str, subtype: str, rate: int, channels: int, seconds: float) -> Master:
    sf.write(path, signal(seconds, rate, channels), rate, format=container, subtype=subtype)
    return Master(path, rate, 16 if subtype == "PCM_16" else 24, channels, seconds)


@pytest.fixture(scope="module")
def masters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Master]:
    folder = tmp_path_factory.mktemp("masters")
    extensions = {"FLAC": "flac", "WAV": "wav", "AIFF": "aiff"}
    return {
        name: write_master(folder / f"{name}.{extensions[spec[0]]}", *spec) for name, spec in MASTER_SPECS.items()
    }


# ---------------------------------------------------------------------------- tools


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: run `bash scripts/install_system_deps.sh` (Debian packages ffmpeg, flac)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(a) for a in args], capture_output=True, timeout=120, check=False)


def ffprobe_audio(path: Path) -> dict[str, str]:
    result = run(
        tool("ffprobe"), "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "default=noprint_wrappers=1", path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    return dict(line.split("=", 1) for line in result.stdout.decode().splitlines())


def decode_pcm(path: Path, sample_format: str = "s32le") -> bytes:
    """The audio as Debian's ffmpeg decodes it (encoder priming trimmed, as players do)."""
    codec = {"s32le": "pcm_s32le", "f32le": "pcm_f32le"}[sample_format]
    result = run(tool("ffmpeg"), "-v", "error", "-i", path, "-map", "0:a:0", "-c:a", codec, "-f", sample_format, "-")
    assert result.returncode == 0 and not result.stderr, result.stderr.decode()
    return result.stdout


def decoded_seconds(path: Path) -> float:
    info = ffprobe_audio(path)
    return len(decode_pcm(path)) / 4 / int(info["channels"]) / int(info["sample_rate"])


def encode_after_one_probe(master: Path, outputs: dict[str, Path], tags: TrackTags,
                           cover: bytes | None) -> dict[str, EncodedFile]:
    """Each ``format id -> path`` of ``outputs`` from one probe of the master, as the encode job does."""
    info = probe_master(master)
    return {fmt: encode(master, fmt, path, tags, cover, master=info) for fmt, path in outputs.items()}


# ---------------------------------------------------------------------------- formats


def test_formats_are_listed_in_the_order_buyers_expect() -> None:
    assert FORMAT_IDS == ("mp3-v0", "mp3-320", "aac", "opus", "flac", "alac", "wav", "aiff")
    assert [fmt.lossless for fmt in FORMATS] == [False] * 4 + [True] * 4
    assert get_format("mp3-v0").description == "MP3 V0: small, plays everywhere"
    assert all(fmt.label and fmt.description.startswith(fmt.label + ":") for fmt in FORMATS)


def test_old_mp3_links_mean_mp3_v0_and_unknown_ids_are_refused() -> None:
    assert get_format("mp3").id == "mp3-v0"
    assert canonical_format_id("mp3") == "mp3-v0"
    assert canonical_format_id("ogg") is None
    with pytest.raises(KeyError, match="ogg"):
        get_format("ogg")


def test_vorbis_is_offered_only_with_libvorbis() -> None:
    assert ("vorbis" in FORMAT_IDS) == ("libvorbis" in av.codecs_available)


# ---------------------------------------------------------------------------- masters


def test_probe_describes_each_master(masters: dict[str, Master]) -> None:
    for name, master in masters.items():
        info = probe_master(master.path)
        assert (info.sample_rate, info.bit_depth, info.channels) == (master.rate, master.bits, master.channels), name
        assert info.frames == round(master.seconds * master.rate)
        assert info.duration == pytest.approx(master.seconds)
        assert info.container == master.path.suffix.lstrip(".")


@pytest.mark.parametrize("codec", ["libmp3lame", "aac"])
def test_lossy_masters_are_refused_naming_the_file(tmp_path: Path, masters: dict[str, Master], codec: str) -> None:
    lossy = tmp_path / ("lossy.mp3" if codec == "libmp3lame" else "lossy.m4a")
    made = run(tool("ffmpeg"), "-v", "error", "-i", masters["flac-16-44k-stereo"].path, "-c:a", codec, lossy)
    assert made.returncode == 0, made.stderr.decode()
    with pytest.raises(MasterError, match=re.escape(str(lossy)) + ".*lossy") as refused:
        probe_master(lossy)
    assert refused.value.path == lossy
    with pytest.raises(MasterError, match="lossy"):
        encode(lossy, "flac", tmp_path / "out.flac", TAGS, None)
    assert not (tmp_path / "out.flac").exists()


def test_mp3_inside_a_wav_is_refused(tmp_path: Path, masters: dict[str, Master]) -> None:
    disguised = tmp_path / "disguised.wav"
    made = run(tool("ffmpeg"), "-v", "error", "-i", masters["flac-16-44k-stereo"].path, "-c:a", "libmp3lame", disguised)
    assert made.returncode == 0, made.stderr.decode()
    with pytest.raises(MasterError, match=re.escape(str(disguised)) + ": MP3 is lossy"):
        probe_master(disguised)


def test_corrupt_masters_are_refused_naming_the_file(tmp_path: Path, masters: dict[str, Master]) -> None:
    data = bytearray(masters["flac-16-44k-stereo"].path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = bytes(4000)
    damaged = tmp_path / "damaged.flac"
    damaged.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.wav"
    wav = masters["wav-24-96k-stereo"].path.read_bytes()
    truncated.write_bytes(wav[: len(wav) // 2])
    garbage = tmp_path / "garbage.aiff"
    garbage.write_bytes(os.urandom(5000))
    for path in (damaged, truncated, garbage):
        with pytest.raises(MasterError, match=re.escape(str(path))):
            probe_master(path)
        # Encoding without a probe first still refuses, and leaves no half-written file.
        with pytest.raises(MasterError, match=re.escape(str(path))):
            encode(path, "wav", tmp_path / "out.wav", TAGS, None)
        assert not (tmp_path / "out.wav").exists()
        assert not list(tmp_path.glob(".*part"))


def test_unsupported_rates_and_depths_are_refused(tmp_path: Path) -> None:
    low_rate = write_track(tmp_path / "demo.wav", 0.5, rate=22050)
    with pytest.raises(MasterError, match="22050 Hz"):
        probe_master(low_rate)
    as_float = tmp_path / "float.wav"
    sf.write(as_float, signal(0.5, 44100, 2), 44100, format="WAV", subtype="FLOAT")
    with pytest.raises(MasterError, match="floating-point"):
        probe_master(as_float)
    eight_bit = tmp_path / "eight.wav"
    sf.write(eight_bit, signal(0.5, 44100, 2), 44100, format="WAV", subtype="PCM_U8")
    with pytest.raises(MasterError, match="8-bit"):
        probe_master(eight_bit)
    missing = tmp_path / "missing.flac"
    with pytest.raises(MasterError, match=re.escape(str(missing))):
        probe_master(missing)


# ---------------------------------------------------------------------------- encoding


EXPECTED_CODEC = {
    "mp3-v0": "mp3",
    "mp3-320": "mp3",
    "aac": "aac",
    "opus": "opus",
    "flac": "flac",
    "alac": "alac",
    "wav": "pcm_s{bits}le",
    "aiff": "pcm_s{bits}be",
}


@pytest.mark.parametrize("fmt", FORMAT_IDS)
@pytest.mark.parametrize("master_name", list(MASTER_SPECS))
def test_every_format_decodes_elsewhere_with_tags_and_is_deterministic(
    tmp_path: Path, masters: dict[str, Master], master_name: str, fmt: str
) -> None:
    master = masters[master_name]
    buyer_format = get_format(fmt)
    out = tmp_path / f"track.{buyer_format.extension}"
    encoded = encode(master.path, fmt, out, TAGS, COVER)
    assert encoded.path == out and encoded.size == out.stat().st_size > 0
    assert encoded.format is buyer_format

    again = encode(master.path, fmt, tmp_path / f"again.{buyer_format.extension}", TAGS, COVER)
    data = out.read_bytes()
    assert again.path.read_bytes() == data, f"{fmt} from {master_name} differs between two encodes"
    assert again.digests == encoded.digests
    assert re.search(rb"Lav[fc]\d", data) is None, "an FFmpeg version string was written"

    # Debian's FFmpeg decodes all of it (the cover too) without a single error.
    checked = run(tool("ffmpeg"), "-v", "error", "-i", out, "-f", "null", "-")
    assert checked.returncode == 0 and not checked.stderr, checked.stderr.decode()
    probed = ffprobe_audio(out)
    assert probed["codec_name"] == EXPECTED_CODEC[fmt].format(bits=master.bits)
    expected_rate = 48000 if fmt == "opus" else master.rate if buyer_format.lossless else min(master.rate, 48000)
    assert int(probed["sample_rate"]) == encoded.sample_rate == expected_rate
    assert int(probed["channels"]) == master.channels
    assert abs(decoded_seconds(out) - master.seconds) <= DURATION_TOLERANCE

    if buyer_format.lossless:
        assert encoded.bit_depth == master.bits
        assert decode_pcm(out) == decode_pcm(master.path), f"{fmt} is not bit-identical to the master"
    if fmt == "flac":
        tested = run(tool("flac"), "-t", "-s", out)
        assert tested.returncode == 0, tested.stderr.decode()
    if buyer_format.mime == "audio/mp4":
        assert_no_mp4_timestamps(data)

    assert_tags(out, fmt)


def assert_no_mp4_timestamps(data: bytes) -> None:
    for atom in (b"mvhd", b"tkhd", b"mdhd"):
        at = data.find(atom)
        assert at > 0, atom
        width = 8 if data[at + 4] == 1 else 4
        times = data[at + 8 : at + 8 + 2 * width]
        assert times == bytes(2 * width), f"{atom.decode()} carries a creation or modification time"


def assert_tags(path: Path, fmt: str) -> None:
    if fmt in ("mp3-v0", "mp3-320", "flac", "wav"):
        # The importer's own reader understands what we wrote.
        read = read_tags(path)
        assert (read.title, read.artist, read.album, read.album_artist) == (
            TAGS.title, TAGS.artist, TAGS.album, TAGS.album_artist,
        )  # fmt: skip
        assert (read.number, read.year, read.genre) == (TAGS.number, TAGS.year, TAGS.genre)
        assert read.picture is not None and read.picture.data == COVER and read.picture.mime == "image/png"
    if fmt in ("mp3-v0", "mp3-320"):
        id3 = ID3(path)
        assert id3.version == (2, 4, 0)
        assert str(id3["TRCK"]) == "3/12" and str(id3["TDRC"]) == "2024"
        assert id3.getall("APIC")[0].type == 3
    elif fmt in ("wav", "aiff"):
        tags = (WAVE(path) if fmt == "wav" else AIFF(path)).tags
        assert tags is not None
        assert str(tags["TIT2"]) == TAGS.title and str(tags["TPE2"]) == TAGS.album_artist
        assert str(tags["TRCK"]) == "3/12" and str(tags["TDRC"]) == "2024" and str(tags["TCON"]) == "Indie"
        assert tags.getall("APIC")[0].data == COVER
    elif fmt in ("aac", "alac"):
        mp4 = MP4(path).tags
        assert mp4 is not None
        assert mp4["\xa9nam"] == [TAGS.title] and mp4["\xa9ART"] == [TAGS.artist] and mp4["\xa9alb"] == [TAGS.album]
        assert mp4["aART"] == [TAGS.album_artist] and mp4["trkn"] == [(3, 12)]
        assert mp4["\xa9day"] == ["2024"] and mp4["\xa9gen"] == ["Indie"]
        assert bytes(mp4["covr"][0]) == COVER
        assert "\xa9too" not in mp4
    elif fmt in ("opus", "flac"):
        audio = OggOpus(path) if fmt == "opus" else FLAC(path)
        comments = audio.tags
        assert comments is not None
        expected = {
            "title": TAGS.title, "artist": TAGS.artist, "album": TAGS.album, "albumartist": TAGS.album_artist,
            "tracknumber": "3", "tracktotal": "12", "date": "2024", "genre": "Indie",
        }  # fmt: skip
        assert {key: comments[key] for key in expected} == {key: [value] for key, value in expected.items()}
        if fmt == "opus":
            picture = Picture(base64.b64decode(comments["metadata_block_picture"][0]))
        else:
            assert isinstance(audio, FLAC)
            picture = audio.pictures[0]
        assert (picture.type, picture.mime, picture.data) == (3, "image/png", COVER)


def test_encoding_after_one_probe_accepts_the_old_mp3_id(tmp_path: Path, masters: dict[str, Master]) -> None:
    master = masters["aiff-24-48k-mono"].path
    outputs = {"mp3": tmp_path / "a.mp3", "alac": tmp_path / "a.m4a"}
    encoded = encode_after_one_probe(master, outputs, TAGS, None)
    assert encoded["mp3"].format.id == "mp3-v0" and encoded["mp3"].bit_depth is None
    assert encoded["alac"].bit_depth == 24 and encoded["alac"].duration_ms == 2000
    alac_tags = MP4(outputs["alac"]).tags
    assert alac_tags is not None and "covr" not in alac_tags


def test_a_cover_that_is_not_an_image_is_refused(tmp_path: Path, masters: dict[str, Master]) -> None:
    with pytest.raises(ValueError, match="PNG or JPEG"):
        encode(masters["aiff-24-48k-mono"].path, "flac", tmp_path / "x.flac", TAGS, b"GIF89a....")
    assert not (tmp_path / "x.flac").exists()


# ---------------------------------------------------------------------------- previews


def test_preview_window() -> None:
    assert preview_window(240.0) == (60.0, 30.0)
    assert preview_window(70.0) == (17.5, 30.0)
    assert preview_window(40.0) == (10.0, 20.0)
    start, length = preview_window(3.0)
    assert length == 1.5 and start + length <= 3.0


def test_preview_is_a_faded_30_second_clip_from_a_quarter_in(tmp_path: Path) -> None:
    master = write_master(tmp_path / "long.flac", "FLAC", "PCM_16", 44100, 2, 70.0)
    preview = make_preview(master.path, tmp_path / "preview.mp3")
    assert preview.track_duration_ms == 70_000
    assert preview.start_ms == 17_500
    assert preview.duration_ms == 30_000
    assert preview.size == (tmp_path / "preview.mp3").stat().st_size

    probed = ffprobe_audio(preview.path)
    assert probed["codec_name"] == "mp3" and probed["sample_rate"] == "44100"
    clip_seconds = decoded_seconds(preview.path)
    assert clip_seconds == pytest.approx(30.0, abs=DURATION_TOLERANCE)
    assert clip_seconds <= decoded_seconds(master.path) / 2
    bit_rate = preview.size * 8 / clip_seconds
    assert 96_000 <= bit_rate <= 140_000

    samples = np.frombuffer(decode_pcm(preview.path, "f32le"), dtype=np.float32).reshape(-1, 2)
    rate = 44100

    def rms(seconds_from: float, seconds_to: float) -> float:
        part = samples[round(seconds_from * rate) : round(seconds_to * rate)]
        return float(np.sqrt(np.mean(part**2)))

    body = rms(10, 20)
    assert body > 0.2
    assert rms(0, 0.05) < body / 10, "no fade in"
    assert rms(0.5, 0.6) == pytest.approx(body / 2, rel=0.3)
    assert rms(clip_seconds - 0.05, clip_seconds) < body / 10, "no fade out"


def test_preview_of_a_short_track_is_at_most_half_of_it(masters: dict[str, Master], tmp_path: Path) -> None:
    for master in masters.values():
        preview = make_preview(master.path, tmp_path / f"{master.path.stem}.mp3")
        track_seconds = decoded_seconds(master.path)
        clip_seconds = decoded_seconds(preview.path)
        assert preview.duration_ms == round(track_seconds * 500)
        assert clip_seconds <= track_seconds / 2 + DURATION_TOLERANCE
        assert clip_seconds == pytest.approx(track_seconds / 2, abs=DURATION_TOLERANCE)
        assert int(ffprobe_audio(preview.path)["channels"]) == master.channels


def test_a_real_entropy_master_encodes_and_decodes_elsewhere(tmp_path: Path, noisy_album: Path) -> None:
    """A noise-rich master of several MB (``noisy_album``): lossless formats come back bit for bit
    through Debian's ffmpeg (and ``flac -t``), a lossy one has the right length."""
    master = sorted(noisy_album.glob("*.flac"))[0]
    outputs = {fmt: tmp_path / f"out-{fmt}.{get_format(fmt).extension}" for fmt in ("flac", "alac", "mp3-v0")}
    encoded = encode_after_one_probe(master, outputs, TAGS, COVER)
    assert set(encoded) == set(outputs)
    pcm, rate = sf.read(master, dtype="int32")
    assert (rate, pcm.shape[1], len(pcm)) == (44100, 2, 24 * 44100)
    for fmt in ("flac", "alac"):
        assert decode_pcm(outputs[fmt]) == pcm.tobytes(), fmt
    tested = run(tool("flac"), "-t", "-s", outputs["flac"])
    assert tested.returncode == 0, tested.stderr.decode()
    assert outputs["flac"].stat().st_size > 3 * 1024 * 1024
    assert abs(decoded_seconds(outputs["mp3-v0"]) - 24.0) < DURATION_TOLERANCE
    assert_tags(outputs["mp3-v0"], "mp3-v0")
