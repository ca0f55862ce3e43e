"""The demo pack: four small albums in four genres, synthesised, tagged and imported.

The files are written to a temporary folder exactly as an operator's would be (one folder
per album, tagged MP3/FLAC/WAV and a ``cover.png``), then go through
:func:`shop.catalog.importer.import_albums`, so the demo exercises the real import path.
Output is deterministic, so a second run finds everything in place and changes nothing.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TRCK
from mutagen.wave import WAVE

from shop.catalog.demo import synth
from shop.catalog.demo.covers import COVERS
from shop.catalog.demo.png import encode_png
from shop.catalog.importer import Echo, ImportReport, check_database, check_settings, import_albums
from shop.catalog.pack_settings import PackSettings
from shop.models import FORMATS

DEFAULT_SLUG = "demo-pack"
PACK_TITLE = "The Demo Pack: Four Small Worlds"
PACK_BLURB = (
    "Four tiny albums, synthesised from scratch for this store: a garage-rock stomp, "
    "late-night synths, porch-light strumming and a stand-up set with no words at all. "
    "Pay what you want from $1.00; every track comes in MP3, FLAC and WAV."
)
MIN_PRICE_CENTS = 100
SUGGESTED_PRICE_CENTS = 800
# libsndfile's MP3 "compression level" 0.3 with a variable bitrate averages ~100 kbit/s
# for these mono pieces: transparent enough, and quicker to encode than a constant rate.
MP3_COMPRESSION = 0.3


@dataclass(frozen=True)
class DemoTrack:
    title: str
    piece: synth.Piece


@dataclass(frozen=True)
class DemoAlbum:
    style: str  # a key of :data:`synth.GENRES` and :data:`covers.COVERS`
    genre: str
    artist: str
    title: str
    year: int
    cover_seed: int
    tracks: tuple[DemoTrack, ...]


P = synth.Piece
DEMO_ALBUMS: tuple[DemoAlbum, ...] = (
    DemoAlbum(
        "rock",
        "Rock",
        "Gravel & the Gaskets",
        "Loud Weather",
        2025,
        11,
        (
            DemoTrack("Ignition Blues", P(seed=101, tempo=140, key=40, variant=0)),
            DemoTrack("Parking-Lot Anthem", P(seed=102, tempo=152, key=45, variant=1)),
            DemoTrack("Thunder on Maple Street", P(seed=103, tempo=132, key=38, variant=2)),
        ),
    ),
    DemoAlbum(
        "electronic",
        "Electronic",
        "Módulo Neón",
        "Nocturne Grid",
        2026,
        22,
        (
            DemoTrack("Pulse Café", P(seed=201, tempo=124, key=57, variant=0)),
            DemoTrack("Übergang", P(seed=202, tempo=120, key=55, variant=1)),
            DemoTrack("Sodium Lights", P(seed=203, tempo=126, key=52, variant=2)),
            DemoTrack("Nachtzug nach Kyōto", P(seed=204, tempo=122, key=54, variant=3)),
        ),
    ),
    DemoAlbum(
        "indie",
        "Indie / Alternative",
        "Ottilie Brann & the Small Hours",
        "Porchlight Postcards",
        2024,
        33,
        (
            DemoTrack("Bicycle Bell Morning", P(seed=301, tempo=104, key=0, variant=0)),
            DemoTrack("The Lighthouse Keeper's Daughter", P(seed=302, tempo=100, key=2, variant=1)),
            DemoTrack("Soft Rain on a Tin Roof", P(seed=303, tempo=112, key=-3, variant=2)),
        ),
    ),
    DemoAlbum(
        # For the comedy set the "key" is the comic's speaking pitch in Hz.
        "comedy",
        "Comedy",
        "Zoë Ferncastle",
        "Live at the Crumbling Pier",
        2026,
        44,
        (
            DemoTrack("Opening Bit", P(seed=401, tempo=0, key=128, variant=0)),
            DemoTrack("The Ferry Situation", P(seed=402, tempo=0, key=122, variant=1)),
            DemoTrack("Crowd Work (Row Three)", P(seed=403, tempo=0, key=132, variant=2)),
            DemoTrack("Encore, Sort Of", P(seed=404, tempo=0, key=126, variant=3)),
        ),
    ),
)


def demo_settings(slug: str = DEFAULT_SLUG) -> PackSettings:
    """On sale from now for 14 days, from $1.00, $8.00 suggested (when the pack is new)."""
    return PackSettings(
        slug=slug,
        title=PACK_TITLE,
        blurb=PACK_BLURB,
        days=14,
        min_price_cents=MIN_PRICE_CENTS,
        suggested_price_cents=SUGGESTED_PRICE_CENTS,
        currency="USD",
    )


def album_folder(root: Path, position: int, album: DemoAlbum) -> Path:
    return root / f"{position:02d} {album.artist} - {album.title}"


def write_demo_albums(root: Path, albums: tuple[DemoAlbum, ...] = DEMO_ALBUMS) -> list[Path]:
    """Synthesise, encode and tag every demo album into ``root``; return the album folders.

    Tracks render in parallel threads (numpy and libsndfile release the GIL); each has its
    own seeded generator, so the result does not depend on the order they finish in.
    """
    jobs: list[Callable[[], None]] = []
    folders = []
    for position, album in enumerate(albums, start=1):
        folder = album_folder(root, position, album)
        folder.mkdir(parents=True, exist_ok=True)
        folders.append(folder)
        jobs.append(functools.partial(_write_cover, folder, album))
        for number, track in enumerate(album.tracks, start=1):
            jobs.append(functools.partial(_write_track, folder, album, number, track))
    workers = max(1, min(4, os.cpu_count() or 1))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
    finally:
        synth.clear_caches()
    return folders


def _write_cover(folder: Path, album: DemoAlbum) -> None:
    pixels = COVERS[album.style](album.cover_seed)
    (folder / "cover.png").write_bytes(encode_png(pixels, compression=6))


def _write_track(folder: Path, album: DemoAlbum, number: int, track: DemoTrack) -> None:
    samples = synth.GENRES[album.style](track.piece)
    for fmt in FORMATS:
        path = folder / f"{number:02d} {track.title}.{fmt}"
        write_audio(path, samples, fmt)
        write_tags(path, album, number, track.title)


def write_audio(path: Path, samples: np.ndarray, fmt: str) -> None:
    if fmt == "mp3":
        sf.write(path, samples, synth.SR, format="MP3", compression_level=MP3_COMPRESSION, bitrate_mode="VARIABLE")
    elif fmt == "flac":
        sf.write(path, samples, synth.SR, format="FLAC", subtype="PCM_16")
    elif fmt == "wav":
        sf.write(path, samples, synth.SR, format="WAV", subtype="PCM_16")
    else:
        raise ValueError(f"unknown format {fmt!r}")


def write_tags(path: Path, album: DemoAlbum, number: int, title: str) -> None:
    """Title, artist, album, track number, genre and year: ID3 for MP3/WAV, Vorbis for FLAC."""
    track_number = f"{number}/{len(album.tracks)}"
    if path.suffix == ".flac":
        flac = FLAC(path)
        flac["title"] = title
        flac["artist"] = album.artist
        flac["albumartist"] = album.artist
        flac["album"] = album.title
        flac["tracknumber"] = track_number
        flac["genre"] = album.genre
        flac["date"] = str(album.year)
        flac.save()
        return
    frames = [
        TIT2(encoding=3, text=title),
        TPE1(encoding=3, text=album.artist),
        TPE2(encoding=3, text=album.artist),
        TALB(encoding=3, text=album.title),
        TRCK(encoding=3, text=track_number),
        TCON(encoding=3, text=album.genre),
        TDRC(encoding=3, text=str(album.year)),
    ]
    if path.suffix == ".wav":
        wave = WAVE(path)
        wave.add_tags()
        for frame in frames:
            wave.tags.add(frame)
        wave.save()
    else:
        tags = ID3()
        for frame in frames:
            tags.add(frame)
        # ID3v2.3: the version every player, Windows Explorer included, reads.
        tags.save(path, v2_version=3)


def create_demo_pack(slug: str = DEFAULT_SLUG, echo: Echo | None = None) -> ImportReport:
    """Create (or confirm) the demo pack. Needs an app context.

    :raises shop.catalog.importer.CatalogImportError: if the pack already holds different
        files under the demo albums' names.
    """
    settings = demo_settings(slug)
    # Both checks before spending seconds on synthesis.
    check_settings(settings)
    check_database()
    with tempfile.TemporaryDirectory(prefix="demo-pack-") as tmp:
        started = time.perf_counter()
        tracks = sum(len(a.tracks) for a in DEMO_ALBUMS)
        if echo:
            echo(f"Synthesising {len(DEMO_ALBUMS)} albums, {tracks} tracks in {', '.join(FORMATS)} ...")
        write_demo_albums(Path(tmp))
        if echo:
            echo(f"  done in {time.perf_counter() - started:.1f} s")
        return import_albums(Path(tmp), settings, echo=echo)
