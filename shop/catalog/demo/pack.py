"""The demo pack: four small albums in four genres, synthesised, tagged and imported.

The masters are written to a temporary folder exactly as an operator's would be (one
folder per album, tagged FLAC, 16-bit 44.1 kHz, and a ``cover.png``), go through
:func:`shop.catalog.importer.import_albums`, and are then encoded into every buyer format
and a preview by :func:`shop.catalog.encode_sync.encode_now` (tracks in parallel processes), so
the demo exercises the real pipeline. Output is deterministic, so a second run finds
everything in place and changes nothing.
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
from sqlalchemy import select

from shop.catalog.demo import synth
from shop.catalog.demo.covers import COVERS
from shop.catalog.demo.png import encode_png
from shop.catalog.encode_sync import encode_now
from shop.catalog.importer import CatalogImportError, Echo, ImportReport, check_database, check_settings, import_albums
from shop.catalog.pack_settings import PackSettings
from shop.extensions import db
from shop.models import Album, Pack

DEFAULT_SLUG = "demo-pack"
PACK_TITLE = "The Demo Pack: Four Small Worlds"
PACK_BLURB = (
    "Four tiny albums, synthesised from scratch for this store: a garage-rock stomp, "
    "late-night synths, porch-light strumming and a stand-up set with no words at all. "
    "Pay what you want from $1.00; every track comes in MP3, AAC, Opus, FLAC, ALAC, WAV and AIFF."
)
MIN_PRICE_CENTS = 100
SUGGESTED_PRICE_CENTS = 800
# The pay box's mechanics, visible on a fresh machine: a (made-up) charity with a minimum,
# and the comedy set as the beat-the-average bonus album.
DEMO_CHARITY = "Open Strings (music lessons for kids)"
DEMO_SPLIT = (80, 10, 10)
DEMO_BONUS_TITLE = "Live at the Crumbling Pier"


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
    path = folder / f"{number:02d} {track.title}.flac"
    write_master(path, samples)
    write_tags(path, album, number, track.title)


def write_master(path: Path, samples: np.ndarray) -> None:
    """A FLAC master, 16-bit 44.1 kHz (the synthesiser's rate)."""
    sf.write(path, samples, synth.SR, format="FLAC", subtype="PCM_16")


def write_tags(path: Path, album: DemoAlbum, number: int, title: str) -> None:
    """Title, artist, album, track number, genre and year as Vorbis comments."""
    flac = FLAC(path)
    flac["title"] = title
    flac["artist"] = album.artist
    flac["albumartist"] = album.artist
    flac["album"] = album.title
    flac["tracknumber"] = f"{number}/{len(album.tracks)}"
    flac["genre"] = album.genre
    flac["date"] = str(album.year)
    flac.save()


def create_demo_pack(slug: str = DEFAULT_SLUG, echo: Echo | None = None, workers: int | None = None,
                     encode: bool = True) -> ImportReport:
    """Create (or confirm) the demo pack, its buyer files encoded. Needs an app context.

    :param workers: parallel encoding processes (default: one per CPU, at most 8).
    :param encode: False to leave the encodes pending (``report.encode_track_ids``) for the
        caller: ``make run`` encodes them while the store starts.
    :raises shop.catalog.importer.CatalogImportError: if the pack already holds different
        masters under the demo albums' names, or an encode failed.
    """
    settings = demo_settings(slug)
    # Both checks before spending seconds on synthesis.
    check_settings(settings)
    check_database()
    with tempfile.TemporaryDirectory(prefix="demo-pack-") as tmp:
        started = time.perf_counter()
        tracks = sum(len(a.tracks) for a in DEMO_ALBUMS)
        if echo:
            echo(f"Synthesising {len(DEMO_ALBUMS)} albums, {tracks} FLAC masters ...")
        write_demo_albums(Path(tmp))
        if echo:
            echo(f"  done in {time.perf_counter() - started:.1f} s")
        report = import_albums(Path(tmp), settings, echo=echo)
    if report.encode_track_ids and encode:
        started = time.perf_counter()
        summary = encode_now(report.encode_track_ids, workers=workers)
        if echo:
            echo(f"Encoded {summary.files} files of {summary.tracks} tracks in {time.perf_counter() - started:.1f} s")
        if summary.failures:
            raise CatalogImportError("demo encodes failed:\n" + "\n".join(summary.failures))
    set_demo_pay_box(slug)
    return report


def set_demo_pay_box(slug: str = DEFAULT_SLUG) -> None:
    """Give the demo pack its charity, split and bonus album, once (a pack that has a charity
    or a bonus album already is left as it is)."""
    pack = db.session.scalar(select(Pack).where(Pack.slug == slug))
    if pack is None or pack.charity_name or any(a.is_bonus for a in pack.albums):
        return
    pack.charity_name, pack.charity_min_percent, pack.store_min_percent = DEMO_CHARITY, 5, 5
    pack.split_artists, pack.split_charity, pack.split_store = DEMO_SPLIT
    bonus = db.session.scalar(select(Album).where(Album.pack_id == pack.id, Album.title == DEMO_BONUS_TITLE))
    if bonus is not None:
        bonus.is_bonus = True
    db.session.commit()
