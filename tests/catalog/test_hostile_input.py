"""`flask catalog import` against hostile and unusual masters, covers and tags (security
review L7, L8, L9): a clear refusal naming the file, nothing changed, nothing raw on the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mutagen.id3 import TRCK
from mutagen.wave import WAVE
from PIL import Image

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


# ------------------------------------------------------------------ L9: control characters


def _escapes_in_artist(music: Path) -> str:
    folder = _album(music)
    hostile.retag_flac(folder / "01 x.flac", artist=hostile.TERMINAL_ESCAPES)
    return "01 x.flac: the artist tag holds the control or direction character U+001B (ESC)"


def _bidi_override_in_title(music: Path) -> str:
    folder = _album(music)
    hostile.retag_flac(folder / "02 y.flac", title="Fog\u202egpj.exe")
    return "02 y.flac: the title tag holds the control or direction character U+202E (RIGHT-TO-LEFT OVERRIDE)"


def _isolate_in_id3_album(music: Path) -> str:
    from mutagen.id3 import TALB

    folder = _album(music, formats=("wav",))
    wav = WAVE(folder / "02 y.wav")
    wav.tags.delall("TALB")
    wav.tags.add(TALB(encoding=3, text="B\u2067"))
    wav.save()
    return "02 y.wav: the album tag holds the control or direction character U+2067 (RIGHT-TO-LEFT ISOLATE)"


def _escape_in_folder_name(music: Path) -> str:
    # No artist or album tags: both come from the folder's name, which holds the escapes.
    folder = write_album(music / "Evil\x1b]0;owned\x07\x1b[2J - B", "", "", ["x"], seconds=0.5)
    for path in folder.glob("*.flac"):
        audio = hostile.FLAC(path)
        del audio["artist"], audio["album"]
        audio.save()
    return "the artist holds the control or direction character U+001B (ESC) (taken from the name)"


TEXT: list[Callable[[Path], str]] = [
    _escapes_in_artist, _bidi_override_in_title, _isolate_in_id3_album, _escape_in_folder_name,
]


@pytest.mark.parametrize("make", TEXT, ids=lambda make: make.__name__.strip("_"))
def test_control_characters_in_tags_and_names_are_refused_and_never_printed_raw(app, runner, tmp_path, pack, make):
    music = tmp_path / "music"
    expected = make(music)
    before = snapshot(app)

    result = run_import(runner, music)

    assert result.exit_code == 1, result.output
    assert "import refused, nothing was changed" in result.output and expected in result.output
    for raw in ("\x1b", "\x07", "\u202e", "\u2067"):
        assert raw not in result.output
    assert snapshot(app) == before


def test_a_new_packs_title_and_blurb_are_checked(app, runner, tmp_path):
    music = tmp_path / "music"
    _album(music)

    title = run_import(runner, music, "--title", "Autumn\r\nBcc: someone@example.net")
    blurb = run_import(runner, music, "--blurb", "Four albums.\x1b[2J")

    assert title.exit_code == blurb.exit_code == 1
    assert "the title holds the control or direction character U+000D (CR)" in title.output
    assert "the blurb holds the control or direction character U+001B (ESC)" in blurb.output
    assert "\x1b" not in blurb.output
    assert run_import(runner, music, "--blurb", "Four albums.\nTwo are new.").exit_code == 0


def test_list_and_status_print_stored_titles_escaped(app, runner, tmp_path, pack):
    from shop.extensions import db

    # Stored before titles and tags were checked.
    pack.title = f"Spring {hostile.TERMINAL_ESCAPES}"
    pack.albums[0].title = "Fog\u202eevil"
    db.session.commit()

    listed = runner.invoke(args=["catalog", "list"])
    status = runner.invoke(args=["catalog", "status"])

    assert listed.exit_code == 0 and status.exit_code == 0
    assert "Spring Evil\\x1b]0;owned\\x07\\x1b[2J" in listed.output
    assert "Spring Evil\\x1b]0;owned\\x07" in status.output
    for output in (listed.output, status.output):
        assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output


# ------------------------------------------------------------------ L8: covers


def _album_with_cover(music: Path, name: str, data: bytes) -> Path:
    folder = write_album(music / "A - B", "A", "B", ["x"], seconds=0.5, cover=False)
    (folder / name).write_bytes(data)
    return folder


def _padded_cover(music: Path) -> str:
    # The review's first cover: a valid PNG with 17 MiB behind it (a FLAC picture holds 16 MiB).
    _album_with_cover(music, "cover.png", hostile.padded(hostile.noise_image(64, 64), 17 * 1024 * 1024))
    return "cover.png: the image is 17.0 MB; a cover may have at most 10.0 MB"


def _gigapixel_cover(music: Path) -> str:
    _album_with_cover(music, "cover.png", hostile.png_of_zeros(40_000, 40_000))
    return "cover.png: the image has more than 40 megapixels"


def _over_the_pixel_cap(music: Path) -> str:
    _album_with_cover(music, "folder.png", hostile.png_of_zeros(8000, 6000))
    return "folder.png: the image is 8000 × 6000 pixels; a cover may have at most 40 megapixels"


def _truncated_png(music: Path) -> str:
    _album_with_cover(music, "cover.png", hostile.truncated(hostile.noise_image(400, 400), 0.6))
    return "cover.png: the image cannot be decoded (image file is truncated"


def _truncated_jpeg(music: Path) -> str:
    _album_with_cover(music, "cover.jpg", hostile.truncated(hostile.noise_image(400, 400, "JPEG"), 0.3))
    return "cover.jpg: the image cannot be decoded (image file is truncated"


def _gif_named_jpeg(music: Path) -> str:
    _album_with_cover(music, "cover.jpg", hostile.noise_image(16, 16, "GIF"))
    return "cover.jpg: not a JPEG or PNG image"


def _bomb_embedded(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x"], seconds=0.5, cover=False)
    from mutagen.flac import Picture

    audio = hostile.FLAC(folder / "01 x.flac")
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", hostile.png_of_zeros(8000, 6000)
    audio.add_picture(picture)
    audio.save()
    return "01 x.flac: its embedded cover art: the image is 8000 × 6000 pixels"


COVERS: list[Callable[[Path], str]] = [
    _padded_cover, _gigapixel_cover, _over_the_pixel_cap, _truncated_png, _truncated_jpeg, _gif_named_jpeg,
    _bomb_embedded,
]


@pytest.mark.parametrize("make", COVERS, ids=lambda make: make.__name__.strip("_"))
def test_hostile_covers_are_refused_and_change_nothing(app, runner, tmp_path, pack, make):
    music = tmp_path / "music"
    expected = make(music)
    before = snapshot(app)

    result = run_import(runner, music)

    assert result.exit_code == 1, result.output
    assert "import refused, nothing was changed" in result.output and expected in result.output
    assert snapshot(app) == before


def test_a_large_cover_is_stored_bounded_and_reimports_unchanged(app, runner, tmp_path):
    from shop.catalog.covers import MAX_SIDE
    from tests.catalog.test_import import get_pack

    music = tmp_path / "music"
    _album_with_cover(music, "cover.jpg", hostile.noise_image(3000, 2000, "JPEG"))

    assert run_import(runner, music).exit_code == 0
    [album] = get_pack().albums
    stored = Path(app.config["MEDIA_ROOT"]) / album.cover_key
    with Image.open(stored) as image:
        assert (image.format, image.size) == ("JPEG", (MAX_SIDE, 800))
    assert album.cover_key.endswith(".jpg") and album.cover_size == stored.stat().st_size < 1024 * 1024

    before = snapshot(app)
    again = run_import(runner, music)
    assert again.exit_code == 0 and "Nothing changed" in again.output
    assert snapshot(app) == before


def test_a_cover_imported_raw_before_covers_were_reencoded_still_matches(app, runner, tmp_path):
    import hashlib

    from shop.extensions import db
    from tests.catalog.test_import import get_pack

    music = tmp_path / "music"
    folder = _album_with_cover(music, "cover.png", hostile.noise_image(64, 64))
    assert run_import(runner, music).exit_code == 0
    # As an import before this change stored it: the operator's own bytes and their digest.
    [album] = get_pack().albums
    album.cover_sha256 = hashlib.sha256((folder / "cover.png").read_bytes()).hexdigest()
    db.session.commit()
    before = snapshot(app)

    again = run_import(runner, music)

    assert again.exit_code == 0 and "Nothing changed" in again.output, again.output
    assert snapshot(app) == before


def test_a_multi_picture_jpeg_from_a_camera_is_a_jpeg_cover(app, runner, tmp_path):
    """Pillow opens a JPEG with several pictures (MPO) as its own kind; the first picture is the cover."""
    import io

    from tests.catalog.test_import import get_pack

    first, second = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (64, 48), "blue")
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    music = tmp_path / "music"
    _album_with_cover(music, "cover.jpg", buffer.getvalue())

    result = run_import(runner, music)

    assert result.exit_code == 0, result.output
    [album] = get_pack().albums
    with Image.open(Path(app.config["MEDIA_ROOT"]) / album.cover_key) as stored:
        assert (stored.format, stored.size) == ("JPEG", (64, 48))
