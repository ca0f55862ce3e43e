"""Real, tagged audio files for tests: soundfile writes, mutagen tags.

Two kinds. :func:`write_track` / :func:`write_album` write small sine tones, fast, for the
many tests that need an album but not its bytes. :func:`noisy_music` /
:func:`write_noisy_album` write noise-rich synthetic music that FLAC cannot squeeze (about
12 bits a sample, 130 KB a second of stereo): masters of real size and real entropy, whose
bytes hit what tones never do (a multipart parser holding back a CR or LF at the end of a
read refused every real master and passed every tone). The ``noisy_album`` fixture
(``tests/conftest.py``) makes one such album once per test session.

Masters are 44.1 kHz (the lowest rate a master may have), 16-bit unless told otherwise;
MP3 files are written too, to check that a lossy track is refused.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.aiff import AIFF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCON, TDRC, TIT2, TPE1, TRCK
from mutagen.wave import WAVE

from shop.catalog.demo.png import encode_png

RATE = 44100
SOUNDFILE_FORMATS = {"mp3": "MP3", "flac": "FLAC", "wav": "WAV", "aiff": "AIFF"}


def tone(seconds: float, pitch: float = 440.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)


def png_bytes(seed: int = 0, size: int = 8) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return encode_png(pixels)


def write_track(
    path: Path,
    seconds: float = 1.0,
    pitch: float = 440.0,
    *,
    title: str | None = None,
    artist: str | None = None,
    album: str | None = None,
    number: str | None = None,
    genre: str | None = None,
    year: str | None = None,
    picture: bytes | None = None,
    rate: int = RATE,
    bits: int = 16,
) -> Path:
    """Write ``seconds`` of a sine tone in the format named by the extension, then tag it."""
    fmt = path.suffix.lower().lstrip(".")
    subtype = None if fmt == "mp3" else ("PCM_U8" if bits == 8 else f"PCM_{bits}")
    sf.write(path, tone(seconds, pitch, rate), rate, format=SOUNDFILE_FORMATS[fmt], subtype=subtype)
    fields = {"title": title, "artist": artist, "album": album, "number": number, "genre": genre, "year": year}
    return tag_track(path, fields, picture)


def tag_track(path: Path, fields: dict[str, str | None], picture: bytes | None = None) -> Path:
    """Tag ``path`` (FLAC, WAV, AIFF or MP3, by its extension) with ``fields`` (title, artist,
    album, number, genre, year) and an optional PNG cover."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "flac":
        audio = FLAC(path)
        names = {"number": "tracknumber", "year": "date"}
        for key, value in fields.items():
            if value is not None:
                audio[names.get(key, key)] = value
        if picture is not None:
            pic = Picture()
            pic.type, pic.mime, pic.data = 3, "image/png", picture
            audio.add_picture(pic)
        audio.save()
        return path
    frames = {"title": TIT2, "artist": TPE1, "album": TALB, "number": TRCK, "genre": TCON, "year": TDRC}
    tags = ID3()
    for key, value in fields.items():
        if value is not None:
            tags.add(frames[key](encoding=3, text=value))
    if picture is not None:
        tags.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=picture))
    if fmt in ("wav", "aiff"):
        riff = WAVE(path) if fmt == "wav" else AIFF(path)
        riff.add_tags()
        for frame in tags.values():
            riff.tags.add(frame)
        riff.save()
    else:
        tags.save(path)
    return path


def write_album(
    folder: Path,
    artist: str,
    album: str,
    titles: list[str],
    formats: tuple[str, ...] = ("flac",),
    genre: str = "Rock",
    year: str = "2024",
    cover: bool = True,
    seconds: float = 1.0,
    rate: int = RATE,
    bits: int = 16,
) -> Path:
    """A fully tagged album folder: ``NN Title.fmt`` for each track and format (a FLAC
    master by default), plus cover.png."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, title in enumerate(titles, start=1):
        for fmt in formats:
            write_track(
                folder / f"{number:02d} {title}.{fmt}",
                seconds + number * 0.25,
                220.0 * number,
                title=title,
                artist=artist,
                album=album,
                number=f"{number}/{len(titles)}",
                genre=genre,
                year=year,
                rate=rate,
                bits=bits,
            )
    if cover:
        (folder / "cover.png").write_bytes(png_bytes(len(titles)))
    return folder


def noisy_music(seconds: float, seed: int, rate: int = RATE, channels: int = 2) -> np.ndarray:
    """``seconds`` of synthetic music as float32 frames: chords that change every bar, a noise
    drum on each beat, and a hiss bed of its own in each channel, about -30 dBFS. Deterministic
    for a ``seed``; the hiss and drums keep FLAC at roughly 12 bits a sample."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    beat = 60.0 / (96 + seed % 40)
    bars = int(seconds / (4 * beat)) + 1
    roots = 110.0 * 2.0 ** (rng.integers(0, 12, size=bars) / 12.0)
    root = roots[(t // (4 * beat)).astype(np.int64)]
    chords = sum(0.1 / k * np.sin(2 * np.pi * k * root * t) for k in (1.0, 1.5, 2.0, 3.0))
    drums = 0.3 * np.exp(-18.0 * (t % beat))
    frames = np.empty((n, channels), dtype=np.float32)
    for channel in range(channels):
        hiss = rng.standard_normal(n, dtype=np.float32)
        frames[:, channel] = chords + drums * rng.standard_normal(n, dtype=np.float32) + 0.03 * hiss
    return np.clip(frames, -0.98, 0.98)


def write_noisy_album(folder: Path, artist: str, album: str, titles: list[str], seconds: float = 24.0,
                      seed: int = 0, cover: bool = True) -> Path:
    """A tagged album of 16-bit/44.1 kHz stereo FLAC masters of :func:`noisy_music`
    (``NN Title.flac``, about 3 MB for 24 s), plus cover.png."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, title in enumerate(titles, start=1):
        path = folder / f"{number:02d} {title}.flac"
        sf.write(path, noisy_music(seconds, seed + number), RATE, format="FLAC", subtype="PCM_16")
        tag_track(path, {"title": title, "artist": artist, "album": album, "number": f"{number}/{len(titles)}",
                         "genre": "Electronic", "year": "2026"})
    if cover:
        (folder / "cover.png").write_bytes(png_bytes(seed, size=64))
    return folder


def zip_folder(folder: Path, target: Path) -> Path:
    """``folder`` as a zip (Deflate, as desktop tools make them) with the folder's name as its top folder."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return target
