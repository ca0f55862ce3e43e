"""Real, small, tagged audio files for import tests: soundfile writes, mutagen tags.

Masters are 44.1 kHz (the lowest rate a master may have), 16-bit unless told otherwise;
MP3 files are written too, to check that a lossy track is refused.
"""

from __future__ import annotations

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
