"""`flask catalog import` against hostile and unusual masters, covers and tags (security
review L7, L8, L9): a clear refusal naming the file, nothing changed, nothing raw on the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mutagen.id3 import TRCK
from mutagen.wave import WAVE

from tests.catalog import hostile
from tests.catalog.audio import write_album
from tests.catalog.snapshot import snapshot
from tests.catalog.test_import import run_import


def _album(music: Path, formats: tuple[str, ...] = ("flac",), **options) -> Path:
    return write_album(music / "A - B", "A", "B", ["x", "y"], formats=formats, seconds=0.5, **options)


def _huge_track_number(music: Path) -> str:
    folder = _album(music)
    hostile.retag_flac(folder / "02 y.flac", tracknumber="99999999999999999999")
    return "02 y.flac: the track number tag says 99999999999999999999; track numbers go from 1 to 9999"


def _int32_track_number(music: Path) -> str:
    folder = _album(music)
    hostile.retag_flac(folder / "01 x.flac", tracknumber="2147483648")
    return "01 x.flac: the track number tag says 2147483648"


def _huge_id3_track_number(music: Path) -> str:
    folder = _album(music, formats=("wav",))
    wav = WAVE(folder / "02 y.wav")
    wav.tags.delall("TRCK")
    wav.tags.add(TRCK(encoding=3, text="10000/12"))
    wav.save()
    return "02 y.wav: the track number tag says 10000"


def _zero_bit_wav(music: Path) -> str:
    folder = _album(music, formats=("wav",), rate=96000)
    hostile.patch_wav_format(folder / "01 x.wav", bits=0)
    return "01 x.wav: the header declares no audio codec the store can decode (unknown format tag or 0 bits"


def _unknown_wav_format(music: Path) -> str:
    folder = _album(music, formats=("wav",))
    hostile.patch_wav_format(folder / "02 y.wav", format_tag=0x0055)  # MPEG layer 3 inside RIFF
    return "02 y.wav"


MASTERS: list[Callable[[Path], str]] = [
    _huge_track_number, _int32_track_number, _huge_id3_track_number, _zero_bit_wav, _unknown_wav_format,
]


@pytest.mark.parametrize("make", MASTERS, ids=lambda make: make.__name__.strip("_"))
def test_hostile_masters_are_refused_and_change_nothing(app, runner, tmp_path, pack, make):
    music = tmp_path / "music"
    expected = make(music)
    before = snapshot(app)

    result = run_import(runner, music)

    assert result.exit_code == 1, result.output
    assert "import refused, nothing was changed" in result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert snapshot(app) == before
