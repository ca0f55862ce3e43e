"""`flask catalog list`."""

from __future__ import annotations

from shop.formatting import filesize
from tests.catalog.audio import write_album


def test_list_without_packs_says_how_to_add_one(runner):
    result = runner.invoke(args=["catalog", "list"])

    assert result.exit_code == 0
    assert "No packs yet" in result.output


def test_list_shows_window_status_counts_and_sizes(app, runner, tmp_path, pack, ended_pack):
    write_album(tmp_path / "music" / "A - B", "A", "B", ["x", "y"])
    imported = runner.invoke(
        args=["catalog", "import", str(tmp_path / "music"), "--pack", "next-up", "--title", "Next Up",
              "--starts", "2999-01-01T00:00:00Z", "--min", "3", "--suggested", "7.50", "--sync", "--workers", "1"]
    )
    assert imported.exit_code == 0, imported.output
    write_album(tmp_path / "later" / "C - D", "C", "D", ["z"])
    waiting = runner.invoke(args=["catalog", "import", str(tmp_path / "later"), "--pack", "getting-ready"])
    assert waiting.exit_code == 0, waiting.output

    result = runner.invoke(args=["catalog", "list"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    blocks = {lines[i].split()[0]: lines[i : i + 4] for i in range(0, len(lines), 4)}
    assert set(blocks) == {"old-pack", "spring-pack", "getting-ready", "next-up"}
    # Ordered by start: ended, on sale, preparing (started now, files still to encode), upcoming.
    assert [line.split()[0] for line in lines[::4]] == ["old-pack", "spring-pack", "getting-ready", "next-up"]
    assert blocks["getting-ready"][1].split()[0] == "preparing"
    assert blocks["getting-ready"][2].strip() == "1 album, 1 track; no files"
    assert blocks["getting-ready"][3].strip().startswith("0 orders: paid $0.00, refunded $0.00")
    assert blocks["old-pack"][1].split()[0] == "ended"
    assert blocks["spring-pack"][1].strip().startswith("on sale")
    upcoming = blocks["next-up"]
    assert upcoming[0] == "next-up  Next Up"
    assert upcoming[1].strip().startswith("upcoming  2999-01-01 00:00 to 2999-01-15 00:00 UTC")
    assert "from $3.00 (suggested $7.50)" in upcoming[1]
    mp3 = sum(f.size for a in pack.albums for t in a.tracks for f in t.files if f.format == "mp3-v0")
    assert f"2 albums, 5 tracks; MP3 V0 {filesize(mp3)}, MP3 320 " in blocks["spring-pack"][2]
    labels = [part.rsplit(" ", 2)[0] for part in upcoming[2].split("; ")[1].split(", ")]
    assert labels == ["MP3 V0", "MP3 320", "AAC", "Opus", "FLAC", "ALAC", "WAV", "AIFF"]
