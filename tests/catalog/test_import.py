"""`flask catalog import` against real FLAC, WAV and AIFF masters (and MP3s it refuses)."""

from __future__ import annotations

import hashlib
import io
import shutil
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from shop.catalog.encode_rows import ENCODE_FORMATS
from shop.catalog.pack_settings import InvalidPackSetting, parse_price
from shop.extensions import db
from shop.models import Pack
from tests.catalog.audio import png_bytes, write_album, write_track
from tests.catalog.snapshot import snapshot, storage_files

SLUG = "spring-2026"


def same_pixels(one: bytes, other: bytes) -> bool:
    with Image.open(io.BytesIO(one)) as a, Image.open(io.BytesIO(other)) as b:
        return (a.size, a.convert("RGB").tobytes()) == (b.size, b.convert("RGB").tobytes())


def run_import(runner, folder: Path, *options: str, slug: str = SLUG):
    return runner.invoke(args=["catalog", "import", str(folder), "--pack", slug, *options])


def get_pack(slug: str = SLUG) -> Pack:
    db.session.expire_all()
    pack = db.session.scalar(select(Pack).where(Pack.slug == slug))
    assert pack is not None
    return pack


def test_import_creates_pack_album_tracks_masters_and_pending_encodes(app, runner, tmp_path):
    music = tmp_path / "music"
    write_album(music / "Zoë Ärger - Ünder the Pier", "Zoë Ärger", "Ünder the Pier", ["Kyōto Ferry", "Rain"],
                genre="Indie", year="2023")

    result = run_import(runner, music, "--title", "Spring 2026", "--blurb", "Fresh.", "--min", "2.50",
                        "--suggested", "9", "--days", "7", "--currency", "eur")

    assert result.exit_code == 0, result.output
    assert "[1/1] Zoë Ärger — Ünder the Pier: 2 tracks, masters FLAC 16-bit 44.1 kHz mono" in result.output
    assert "albums 1 added" in result.output and "masters 2 added" in result.output
    # No Redis in this test: the encodes wait, and the operator is told how to run them.
    assert "2 track(s) wait to be encoded" in result.output and "flask catalog encode --sync" in result.output
    pack = get_pack()
    assert (pack.title, pack.blurb, pack.currency) == ("Spring 2026", "Fresh.", "EUR")
    assert (pack.min_price_cents, pack.suggested_price_cents) == (250, 900)
    assert pack.ends_at - pack.starts_at == timedelta(days=7)
    assert pack.is_preparing() and not pack.is_on_sale()
    [album] = pack.albums
    assert (album.artist, album.title, album.genre, album.year, album.position) == (
        "Zoë Ärger", "Ünder the Pier", "Indie", 2023, 1,
    )
    assert [(t.number, t.title) for t in album.tracks] == [(1, "Kyōto Ferry"), (2, "Rain")]
    for track, duration in zip(album.tracks, (1250, 1500), strict=True):
        assert track.files == []
        assert (track.master_codec, track.sample_rate, track.bit_depth, track.channels) == ("flac", 44100, 16, 1)
        assert track.duration_ms == duration  # counted from the decoded master: exact
        assert sorted(e.format for e in track.encodes) == sorted(ENCODE_FORMATS)
        assert {(e.status, e.attempts) for e in track.encodes} == {("pending", 0)}


@pytest.mark.parametrize(("fmt", "rate", "bits"), [("flac", 44100, 16), ("flac", 96000, 24), ("wav", 48000, 24),
                                                   ("wav", 44100, 16), ("aiff", 88200, 16), ("aiff", 44100, 24)])
def test_masters_of_each_kind_are_read(app, runner, tmp_path, fmt, rate, bits):
    folder = write_album(tmp_path / "music" / "x", "Ana Ñandú", f"Only {fmt}", ["Uno", "Dos", "Tres"],
                         formats=(fmt,), genre="Electronic", year="2019-05-01", rate=rate, bits=bits)

    result = run_import(runner, folder)

    assert result.exit_code == 0, result.output
    [album] = get_pack().albums
    assert (album.artist, album.title, album.genre, album.year) == ("Ana Ñandú", f"Only {fmt}", "Electronic", 2019)
    assert [(t.number, t.title) for t in album.tracks] == [(1, "Uno"), (2, "Dos"), (3, "Tres")]
    assert [t.duration_ms for t in album.tracks] == [1250, 1500, 1750]
    assert {(t.master_key.rsplit(".", 1)[1], t.sample_rate, t.bit_depth) for t in album.tracks} == {(fmt, rate, bits)}
    assert "note:" not in result.output


def test_digests_and_blobs_match_the_masters(app, runner, tmp_path):
    music = tmp_path / "music"
    folder = write_album(music / "A - B", "A", "B", ["One", "Two"])

    assert run_import(runner, music).exit_code == 0
    media = Path(app.config["MEDIA_ROOT"])
    [album] = get_pack().albums
    for track in album.tracks:
        original = (folder / f"{track.number:02d} {track.title}.flac").read_bytes()
        sha = hashlib.sha256(original).hexdigest()
        assert track.master_key == f"masters/{sha[:2]}/{sha}.flac"
        assert (media / track.master_key).read_bytes() == original
        assert (track.master_size, track.master_sha256) == (len(original), sha)
    # The cover is stored re-encoded (shop.catalog.covers): the same pixels, digests of what is stored.
    cover = (media / album.cover_key).read_bytes()
    assert same_pixels(cover, (folder / "cover.png").read_bytes())
    assert album.cover_key.startswith("covers/") and album.cover_key.endswith(".png")
    assert (album.cover_size, album.cover_crc32, album.cover_sha256) == (
        len(cover), zlib.crc32(cover), hashlib.sha256(cover).hexdigest(),
    )


def test_reimporting_the_same_folder_changes_nothing(app, runner, tmp_path):
    music = tmp_path / "music"
    write_album(music / "01 First - Album", "First", "Album", ["a", "b", "c"])
    write_album(music / "02 Second - Album", "Second", "Album", ["d"], formats=("flac", "mp3"))
    assert run_import(runner, music).exit_code == 0
    before = snapshot(app)

    again = run_import(runner, music, "--title", "Another title", "--min", "3.00")

    assert again.exit_code == 0, again.output
    assert snapshot(app) == before
    assert "Nothing changed" in again.output and "wait to be encoded" not in again.output
    assert "unchanged  First — Album" in again.output
    assert "settings were not applied: title" in again.output and "minimum price" in again.output


def test_reimport_restores_a_missing_blob_without_touching_rows(app, runner, tmp_path):
    music = tmp_path / "music"
    write_album(music / "A - B", "A", "B", ["One"])
    assert run_import(runner, music).exit_code == 0
    rows, blobs = snapshot(app)
    lost = sorted(blobs)[0]
    (Path(app.config["MEDIA_ROOT"]) / lost).unlink()

    result = run_import(runner, music)

    assert result.exit_code == 0, result.output
    assert "1 blob(s) copied" in result.output
    new_rows, new_blobs = snapshot(app)
    assert new_rows == rows
    assert set(new_blobs) == set(blobs)


def test_a_folder_of_audio_files_is_one_album(app, runner, tmp_path):
    album = write_album(tmp_path / "Solo Artist - Single Folder", "Solo Artist", "Single Folder", ["x", "y"],
                        formats=("wav",))
    (album / "scans").mkdir()  # subfolders of an album folder are not albums

    result = run_import(runner, album)

    assert result.exit_code == 0, result.output
    assert [a.title for a in get_pack().albums] == ["Single Folder"]


def test_missing_tags_fall_back_to_folder_and_file_names(app, runner, tmp_path):
    folder = tmp_path / "music" / "Folder Artist - Folder Album"
    folder.mkdir(parents=True)
    write_track(folder / "01 - First Light.flac")
    write_track(folder / "02. Second Wind.flac", 1.5)
    write_track(folder / "03 Third.flac", number="3")

    result = run_import(runner, folder.parent)

    assert result.exit_code == 0, result.output
    [album] = get_pack().albums
    assert (album.artist, album.title, album.genre, album.year, album.cover_key) == (
        "Folder Artist", "Folder Album", "", None, None,
    )
    assert [(t.number, t.title) for t in album.tracks] == [(1, "First Light"), (2, "Second Wind"), (3, "Third")]
    for expected in (
        "no artist tag: artist 'Folder Artist' taken from the folder name",
        "no album tag: album 'Folder Album' taken from the folder name",
        "no track number tag in 2 file(s)",
        "no title tag in 3 file(s)",
        "no genre tag",
        "no year tag",
        "no cover image",
    ):
        assert expected in result.output


def test_embedded_art_is_the_cover_when_there_is_no_cover_file(app, runner, tmp_path):
    folder = tmp_path / "music" / "A - B"
    folder.mkdir(parents=True)
    art = png_bytes(7)
    write_track(folder / "01 x.flac", number="1", title="x", artist="A", album="B", picture=art)

    result = run_import(runner, folder.parent)

    assert result.exit_code == 0, result.output
    [album] = get_pack().albums
    stored = (Path(app.config["MEDIA_ROOT"]) / album.cover_key).read_bytes()
    assert album.cover_sha256 == hashlib.sha256(stored).hexdigest() and same_pixels(stored, art)
    assert "used the art embedded in 01 x.flac" in result.output


def test_import_adds_albums_to_an_existing_pack(app, runner, tmp_path, pack):
    write_album(tmp_path / "new" / "C - D", "C", "D", ["x"])
    before_albums = len(pack.albums)
    assert get_pack(pack.slug).is_on_sale()

    result = run_import(runner, tmp_path / "new", slug=pack.slug)

    assert result.exit_code == 0, result.output
    assert f"Pack '{pack.slug}' updated" in result.output
    updated = get_pack(pack.slug)
    albums = updated.albums
    assert len(albums) == before_albums + 1
    assert albums[-1].title == "D" and albums[-1].position == before_albums + 1
    assert updated.is_preparing() and not updated.is_on_sale()  # until the new album is encoded


def test_one_master_per_track_lossy_copies_are_set_aside(app, runner, tmp_path):
    """A folder of the time before masters (MP3, FLAC and WAV of each track): the FLAC is the
    master, the others are set aside with a note."""
    folder = write_album(tmp_path / "music" / "A - B", "A", "B", ["x", "y"], formats=("mp3", "flac", "wav"))

    result = run_import(runner, folder.parent)

    assert result.exit_code == 0, result.output
    assert "note: one master per track in 4 file(s) (01 x.wav, 01 x.mp3, 02 y.wav and 1 more): set aside for " \
        "the lossless master of the same track" in result.output
    [album] = get_pack().albums
    assert all(t.master_key.endswith(".flac") and t.master_codec == "flac" for t in album.tracks)


def test_the_master_of_a_track_imported_before_masters_is_attached(app, runner, tmp_path):
    """A track with files but no master (imported before masters) gets the master, and its
    encodes: its files are re-made from it."""
    write_album(tmp_path / "v1" / "A - B", "A", "B", ["x", "y"])
    assert run_import(runner, tmp_path / "v1").exit_code == 0
    for track in get_pack().albums[0].tracks:
        track.master_key = track.master_sha256 = None
        track.encodes.clear()
    db.session.commit()

    result = run_import(runner, tmp_path / "v1")

    assert result.exit_code == 0, result.output
    assert "extended   A — B (0 tracks, 2 masters added)" in result.output
    assert all(len(t.encodes) == len(ENCODE_FORMATS) and t.master_key for t in get_pack().albums[0].tracks)


def test_changed_masters_of_an_imported_album_are_refused(app, runner, tmp_path):
    music = tmp_path / "music"
    folder = write_album(music / "A - B", "A", "B", ["x", "y"])
    assert run_import(runner, music).exit_code == 0
    write_album(music / "C - D", "C", "D", ["new"])  # would be added, but the import is refused
    write_track(folder / "02 y.flac", 3.0, title="y", artist="A", album="B", number="2", genre="Rock", year="2024")
    before = snapshot(app)

    result = run_import(runner, music)

    assert result.exit_code == 1
    assert "02 y.flac differs from the master already imported for track 2" in result.output
    assert snapshot(app) == before


# -- bad input: a clear message naming the file, and nothing changed -----------------------


def _unreadable(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x", "y"])
    (folder / "03 broken.flac").write_bytes(b"this is not audio at all" * 100)
    return "03 broken.flac: unreadable audio"


def _lossy_only(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x", "y"])
    write_track(folder / "03 z.mp3", title="z", artist="A", album="B", number="3")
    return "03 z.mp3: MP3 is lossy; a master must be lossless FLAC, WAV or AIFF"


def _lossy_album(music: Path) -> str:
    write_album(music / "A - B", "A", "B", ["x"], formats=("mp3",))
    return "01 x.mp3: MP3 is lossy; a master must be lossless FLAC, WAV or AIFF"


def _lossy_other_kind(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x"])
    (folder / "02 y.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200)
    return "02 y.m4a: cannot be opened as audio"


def _low_sample_rate(music: Path) -> str:
    write_album(music / "A - B", "A", "B", ["x"], rate=22050)
    return "01 x.flac: sample rate 22050 Hz is not accepted"


def _eight_bit(music: Path) -> str:
    write_album(music / "A - B", "A", "B", ["x"], formats=("wav",), bits=8)
    return "01 x.wav: 8-bit audio is not accepted"


def _truncated(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x", "y"], seconds=3.0)
    path = folder / "02 y.flac"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "02 y.flac: corrupt audio"


def _missing_number(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x"])
    write_track(folder / "Bonus.flac", title="Bonus", artist="A", album="B")
    return "Bonus.flac: no track number tag, and the file name does not start with a number"


def _duplicate_number(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x", "y"], formats=("wav",))
    write_track(folder / "09 z.wav", title="z", artist="A", album="B", number="2")
    return "track number 2 is already used by 02 y.wav (wav)"


def _titles_disagree(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x", "y"], formats=("wav", "flac"))
    write_track(folder / "02 y.flac", title="Something else", number="2", artist="A", album="B")
    return "the files disagree on the title of track 2"


def _empty_folder(music: Path) -> str:
    music.mkdir(parents=True)
    return "empty, no album folders and no audio files"


def _empty_album_folder(music: Path) -> str:
    write_album(music / "A - B", "A", "B", ["x"])
    (music / "C - D").mkdir()
    (music / "C - D" / "notes.txt").write_text("no audio here")
    return "C - D: empty, no audio files"


def _second_album_bad(music: Path) -> str:
    write_album(music / "1 A - B", "A", "B", ["x"])
    folder = write_album(music / "2 C - D", "C", "D", ["y"], formats=("wav",))
    (folder / "01 y.wav").write_bytes(b"\x00" * 10)
    return "01 y.wav: unreadable audio"


def _bad_cover(music: Path) -> str:
    folder = write_album(music / "A - B", "A", "B", ["x"], cover=False)
    (folder / "Cover.JPG").write_bytes(b"GIF89a not a jpeg")
    return "Cover.JPG: not a JPEG or PNG image"


def _same_album_twice(music: Path) -> str:
    write_album(music / "one", "A", "B", ["x"])
    write_album(music / "two", "A", "B", ["x"])
    return "same artist and album as"


@pytest.mark.parametrize(
    "make",
    [
        _unreadable, _lossy_only, _lossy_album, _lossy_other_kind, _low_sample_rate, _eight_bit, _truncated,
        _missing_number, _duplicate_number, _titles_disagree, _empty_folder, _empty_album_folder,
        _second_album_bad, _bad_cover, _same_album_twice,
    ],
)
def test_bad_folders_are_refused_and_change_nothing(app, runner, tmp_path, pack, make):
    music = tmp_path / "music"
    expected = make(music)
    before = snapshot(app)

    result = run_import(runner, music)

    assert result.exit_code == 1, result.output
    assert "import refused, nothing was changed" in result.output
    assert expected in result.output
    assert snapshot(app) == before


@pytest.mark.parametrize("option", ["--min", "--suggested"])
@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity", "1e3", "1E2", "1.005", "-1", "-0.50", "", " ",
                                   "abc", "1,00", "+5", "$5", "1_000", "٥", "0x10", "5."])
def test_bad_prices_are_refused_and_change_nothing(app, runner, tmp_path, option, value):
    write_album(tmp_path / "music" / "A - B", "A", "B", ["x"], formats=("flac",))
    before = snapshot(app)

    result = run_import(runner, tmp_path / "music", option, value)

    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--min", "20.00"], "the suggested price 10.00 is below the minimum 20.00"),
        (["--min", "5", "--suggested", "4.99"], "the suggested price 4.99 is below the minimum 5.00"),
        (["--suggested", "5000.00"], "above the store's cap"),
        (["--currency", "dollars"], "must be three capital letters"),
        # L3: Stripe's minimum charge in the pack's currency, named.
        (["--currency", "eur", "--min", "0.20"], "below Stripe's minimum charge of 0.50 EUR"),
        (["--currency", "jpy", "--min", "10", "--suggested", "500"], "below Stripe's minimum charge of 50 JPY"),
        (["--currency", "xyz"], "not one the store can take payments in"),
        (["--title", "   "], "title must be 1 to 200 characters"),
    ],
)
def test_bad_pack_settings_are_refused(app, runner, tmp_path, options, message):
    write_album(tmp_path / "music" / "A - B", "A", "B", ["x"], formats=("flac",))
    before = snapshot(app)

    result = run_import(runner, tmp_path / "music", *options)

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert snapshot(app) == before


@pytest.mark.parametrize(("currency", "minimum", "suggested", "cents"), [
    ("jpy", "500", "1500", (500, 1500)), ("kwd", "1.5", "4.250", (1500, 4250)),
])
def test_prices_are_read_in_the_pack_s_currency(app, runner, tmp_path, currency, minimum, suggested, cents):
    write_album(tmp_path / "music" / "A - B", "A", "B", ["x"], formats=("flac",))
    result = run_import(runner, tmp_path / "music", "--currency", currency, "--min", minimum, "--suggested", suggested)
    assert result.exit_code == 0, result.output
    pack = get_pack()
    assert (pack.currency, pack.min_price_cents, pack.suggested_price_cents) == (currency.upper(), *cents)
    refused = run_import(runner, tmp_path / "music", "--currency", "jpy", "--min", "500.5", slug="other")
    assert refused.exit_code == 2 and "whole numbers" in refused.output


def test_bad_slug_and_start_are_refused(app, runner, tmp_path):
    write_album(tmp_path / "music" / "A - B", "A", "B", ["x"], formats=("flac",))
    before = snapshot(app)

    bad_slug = run_import(runner, tmp_path / "music", slug="Not A Slug")
    bad_start = run_import(runner, tmp_path / "music", "--starts", "next tuesday")

    assert bad_slug.exit_code == 1 and "must be lowercase letters" in bad_slug.output
    assert bad_start.exit_code == 2 and "not an ISO 8601 date" in bad_start.output
    assert snapshot(app) == before


@pytest.mark.parametrize(("text", "cents"), [("0", 0), ("1", 100), ("1.5", 150), ("8.00", 800), (" 12.34 ", 1234)])
def test_parse_price_accepts_plain_amounts(text, cents):
    assert parse_price(text) == cents


def test_parse_price_rejects_unicode_digits():
    with pytest.raises(InvalidPackSetting):
        parse_price("١٠")


def test_blobs_are_written_only_after_validation(app, runner, tmp_path):
    _second_album_bad(tmp_path / "music")

    assert run_import(runner, tmp_path / "music").exit_code == 1

    assert storage_files(app) == {}


def test_import_needs_an_existing_directory(app, runner, tmp_path):
    result = run_import(runner, tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_copied_folder_with_renamed_files_is_still_unchanged(app, runner, tmp_path):
    """Identity is content, not file names: a copy elsewhere re-imports as unchanged."""
    music = tmp_path / "music"
    write_album(music / "A - B", "A", "B", ["x", "y"])
    assert run_import(runner, music).exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(music, copy)
    (copy / "A - B" / "01 x.flac").rename(copy / "A - B" / "01 - renamed.flac")
    before = snapshot(app)

    result = run_import(runner, copy)

    assert result.exit_code == 0, result.output
    assert snapshot(app) == before


def test_a_database_without_tables_gets_a_hint(app, runner, tmp_path):
    write_album(tmp_path / "music" / "A - B", "A", "B", ["x"])
    db.drop_all()

    result = run_import(runner, tmp_path / "music")

    assert result.exit_code == 1
    assert "flask --app shop db upgrade" in result.output
    assert storage_files(app) == {}


def test_real_entropy_masters_are_imported_byte_for_byte(app, runner, noisy_album):
    """Several MB of noise-rich FLAC per track, as an operator's masters are (see ``noisy_album``)."""
    result = run_import(runner, noisy_album)

    assert result.exit_code == 0, result.output
    assert "Static Bloom — Hiss Garden: 2 tracks, masters FLAC 16-bit 44.1 kHz stereo" in result.output
    media = Path(app.config["MEDIA_ROOT"])
    [album] = get_pack().albums
    assert [(t.number, t.title) for t in album.tracks] == [(1, "Tape Hiss"), (2, "Rain on Tin")]
    for track in album.tracks:
        original = (noisy_album / f"{track.number:02d} {track.title}.flac").read_bytes()
        assert len(original) > 3 * 1024 * 1024
        assert (media / track.master_key).read_bytes() == original
        assert (track.master_sha256, track.channels, track.duration_ms) == (
            hashlib.sha256(original).hexdigest(), 2, 24_000)
