"""Benchmark: encoding an album's masters to every buyer format, ours against ffmpeg's CLI.

Run from the repository root::

    .venv/bin/python -m bench.encode [--runs 3] [--workers 1] [--masters DIR]

Without ``--masters`` it generates one album once into ``/tmp/shop-bench-encode/masters``:
6 tracks of 60 s, 44.1 kHz, 16-bit stereo FLAC, of chords, drum-like noise bursts and hiss
(encoders work harder on that than on a pure tone). Then, side by side in the same run, for
each format:

* ``ours``: :func:`shop.catalog.encoding.encode` (PyAV's FFmpeg, then mutagen tags and the
  checksums the store keeps: size, CRC-32, SHA-256, Dropbox content hash), one call per
  track;
* ``ffmpeg``: Debian's ``ffmpeg`` command line with the same encoder settings
  (:func:`shop.catalog.encoding.encoder_settings`) and the same text tags, one process
  per track.

Both run the album's tracks on a pool of ``--workers`` processes; each run alternates which
side goes first, for every format. Reported per format and in total, medians over runs:
speed as × real time per core (seconds of audio encoded per CPU second, the worker
processes' or ffmpeg processes' user + system time) and the wall time for the album. The
markdown is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from shop.catalog.encoding import encode, encoder_settings
from shop.catalog.masters import MasterInfo, probe_master
from shop.catalog.tag_writing import TrackTags
from shop.formats import FORMAT_IDS, get_format

DEFAULT_CACHE = Path(os.environ.get("SHOP_BENCH_CACHE", "/tmp/shop-bench-encode"))
TRACKS = 6
TRACK_SECONDS = 60.0
RATE = 44100
SIDES = ("ours", "ffmpeg")


# --- the album, generated once ---------------------------------------------------------


def synthesize(seconds: float, seed: int) -> np.ndarray:
    """Stereo float samples: a chord every 2 s with harmonics, noise-burst drums and hiss."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    out = np.zeros((n, 2))
    bar = 2 * RATE
    for start in range(0, n, bar):
        part = slice(start, min(start + bar, n))
        local = t[part] - t[start]
        root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
        for ratio, pan in ((1.0, 0.3), (1.26, 0.5), (1.5, 0.7)):
            tone = sum(np.sin(2 * np.pi * root * ratio * k * local) / k**1.5 for k in range(1, 7))
            envelope = np.exp(-local * 1.5)
            out[part, 0] += 0.12 * tone * envelope * (1 - pan)
            out[part, 1] += 0.12 * tone * envelope * pan
    beat = RATE // 2
    burst = np.exp(-np.arange(beat) / (0.04 * RATE))
    for start in range(0, n - beat, beat):
        out[start : start + beat] += 0.25 * (rng.standard_normal((beat, 2)) * burst[:, None])
    out += 0.01 * rng.standard_normal((n, 2))
    return np.clip(out, -1.0, 1.0)


def album_masters(cache: Path) -> list[Path]:
    folder = cache / "masters"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(1, TRACKS + 1):
        path = folder / f"{number:02d}.flac"
        if not path.exists():
            print(f"generating master {number}/{TRACKS}", file=sys.stderr)
            partial = path.with_suffix(".part")
            sf.write(partial, synthesize(TRACK_SECONDS, number), RATE, format="FLAC", subtype="PCM_16")
            partial.rename(path)
        paths.append(path)
    return paths


# --- one track, in a pool worker -------------------------------------------------------


def tags_for(master: Path, total: int) -> TrackTags:
    return TrackTags(
        title=f"Track {master.stem}", artist="Bench Artist", album="Bench Album", album_artist="Bench Artist",
        number=int(master.stem) if master.stem.isdigit() else None, total=total, year=2026, genre="Indie",
    )  # fmt: skip


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def encode_ours(master: Path, info: MasterInfo, fmt: str, out: Path, total: int) -> tuple[float, int]:
    before = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
    encoded = encode(master, fmt, out, tags_for(master, total), None, master=info)
    return cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - before, encoded.size


def ffmpeg_command(master: Path, info: MasterInfo, fmt: str, out: Path, total: int) -> list[str]:
    """The ``ffmpeg`` command line with the settings ``encode`` gives PyAV."""
    settings = encoder_settings(fmt, info)
    tags = tags_for(master, total)
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(master), "-map", "0:a:0"]
    command += ["-c:a", settings.codec, "-ar", str(settings.rate)]
    if settings.sample_format:
        command += ["-sample_fmt", settings.sample_format]
    if settings.bits_per_raw_sample:
        command += ["-bits_per_raw_sample", str(settings.bits_per_raw_sample)]
    if settings.bit_rate:
        command += ["-b:a", str(settings.bit_rate)]
    if settings.vbr_quality is not None:
        command += ["-q:a", str(settings.vbr_quality)]
    for key, value in settings.codec_options.items():
        command += [f"-{key}", value]
    metadata: dict[str, str | None] = {
        "title": tags.title, "artist": tags.artist, "album": tags.album, "album_artist": tags.album_artist,
        "track": f"{tags.number}/{tags.total}", "date": str(tags.year), "genre": tags.genre,
    }  # fmt: skip
    for key, text in metadata.items():
        if text is not None:
            command += ["-metadata", f"{key}={text}"]
    command += ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", settings.muxer]
    if settings.muxer == "mp3":
        command += ["-id3v2_version", "4"]
    if settings.muxer == "aiff":
        command += ["-write_id3v2", "1"]
    return [*command, str(out)]


def encode_ffmpeg(master: Path, info: MasterInfo, fmt: str, out: Path, total: int) -> tuple[float, int]:
    before = cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN))
    subprocess.run(ffmpeg_command(master, info, fmt, out, total), check=True)
    return cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)) - before, out.stat().st_size


def encode_track(side: str, master: Path, info: MasterInfo, fmt: str, out: Path, total: int) -> tuple[float, int]:
    return (encode_ours if side == "ours" else encode_ffmpeg)(master, info, fmt, out, total)


def warm_up() -> None:
    """Import and initialise PyAV in each worker before anything is timed."""
    av.codec.Codec("libmp3lame", "w")


# --- the comparison --------------------------------------------------------------------


@dataclass
class Sample:
    cpu: float
    wall: float
    size: int


def run_side(
    pool: ProcessPoolExecutor, side: str, fmt: str, masters: list[tuple[Path, MasterInfo]], out_dir: Path
) -> Sample:
    extension = get_format(fmt).extension
    started = time.perf_counter()
    futures = [
        pool.submit(encode_track, side, path, info, fmt, out_dir / f"{side}-{path.stem}.{extension}", len(masters))
        for path, info in masters
    ]
    results = [future.result() for future in futures]
    wall = time.perf_counter() - started
    return Sample(cpu=sum(cpu for cpu, _ in results), wall=wall, size=sum(size for _, size in results))


def measure(
    masters: list[tuple[Path, MasterInfo]], formats: list[str], runs: int, workers: int
) -> dict[tuple[str, str], list[Sample]]:
    samples: dict[tuple[str, str], list[Sample]] = {(side, fmt): [] for side in SIDES for fmt in formats}
    with tempfile.TemporaryDirectory(prefix="shop-bench-encode-") as tmp, ProcessPoolExecutor(
        workers, initializer=warm_up
    ) as pool:
        out_dir = Path(tmp)
        for run in range(runs):
            for index, fmt in enumerate(formats):
                order = SIDES if (run + index) % 2 == 0 else SIDES[::-1]
                for side in order:
                    samples[side, fmt].append(run_side(pool, side, fmt, masters, out_dir))
            print(f"run {run + 1}/{runs} done", file=sys.stderr)
    return samples


def report(samples: dict[tuple[str, str], list[Sample]], formats: list[str], audio_seconds: float) -> str:
    def median(side: str, fmt: str, attribute: str) -> float:
        return float(statistics.median(getattr(sample, attribute) for sample in samples[side, fmt]))

    lines = [
        "| format | ours: × real time per core | ffmpeg CLI: × real time per core | ours vs ffmpeg "
        "| ours: wall time | ffmpeg CLI: wall time | album size, ours / ffmpeg |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    totals = {side: {"cpu": 0.0, "wall": 0.0} for side in SIDES}
    for fmt in formats:
        speed = {side: audio_seconds / median(side, fmt, "cpu") for side in SIDES}
        wall = {side: median(side, fmt, "wall") for side in SIDES}
        for side in SIDES:
            totals[side]["cpu"] += median(side, fmt, "cpu")
            totals[side]["wall"] += wall[side]
        sizes = " / ".join(f"{median(side, fmt, 'size') / 1e6:.1f} MB" for side in SIDES)
        lines.append(
            f"| {get_format(fmt).label} | {speed['ours']:,.0f}× | {speed['ffmpeg']:,.0f}× "
            f"| {speed['ours'] / speed['ffmpeg']:.2f}× | {wall['ours']:.2f} s | {wall['ffmpeg']:.2f} s | {sizes} |"
        )
    total_speed = {side: audio_seconds * len(formats) / totals[side]["cpu"] for side in SIDES}
    lines.append(
        f"| **all {len(formats)} formats** | {total_speed['ours']:,.0f}× | {total_speed['ffmpeg']:,.0f}× "
        f"| {total_speed['ours'] / total_speed['ffmpeg']:.2f}× | {totals['ours']['wall']:.2f} s "
        f"| {totals['ffmpeg']['wall']:.2f} s | |"
    )
    return "\n".join(lines)


def ffmpeg_version() -> str:
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    return first.split(" Copyright")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="processes encoding tracks in parallel")
    parser.add_argument("--masters", type=Path, help="a folder of FLAC/WAV/AIFF masters (default: generated album)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--formats", default=",".join(FORMAT_IDS), help="comma-separated format ids")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is not installed: run `bash scripts/install_system_deps.sh`")

    if args.masters:
        paths = sorted(p for p in args.masters.iterdir() if p.suffix.lower() in (".flac", ".wav", ".aif", ".aiff"))
    else:
        paths = album_masters(args.cache)
    masters = [(path, probe_master(path)) for path in paths]
    formats = [get_format(fmt).id for fmt in args.formats.split(",")]
    audio_seconds = sum(info.duration for _, info in masters)
    rates = sorted({f"{info.sample_rate / 1000:g} kHz/{info.bit_depth} bit" for _, info in masters})

    samples = measure(masters, formats, args.runs, args.workers)
    print(
        f"{len(masters)} masters, {audio_seconds:.0f} s of audio ({', '.join(rates)}); {args.runs} runs, "
        f"{args.workers} worker process(es), medians; PyAV {av.__version__} (FFmpeg libavcodec "
        f"{'.'.join(map(str, av.library_versions['libavcodec']))}) against {ffmpeg_version()}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print(report(samples, formats, audio_seconds))


if __name__ == "__main__":
    main()
