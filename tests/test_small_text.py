"""The small text buyers and operators read: subjects, counts, plurals and the format list."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from shop.formats import FORMAT_COUNT_IN_WORDS, FORMAT_NAMES_IN_WORDS, FORMATS
from shop.formatting import counted, plural
from shop.orders.receipts import send_receipt
from tests import factories


def test_the_format_list_is_made_from_the_format_table():
    assert FORMAT_COUNT_IN_WORDS == "eight" and len(FORMATS) == 8
    assert FORMAT_NAMES_IN_WORDS == "MP3 V0 or 320, AAC, Opus, FLAC, ALAC, WAV, AIFF"
    for fmt in FORMATS:  # every format is named (a family's variants after its first word)
        assert fmt.label.split(" ")[-1] in FORMAT_NAMES_IN_WORDS


def test_every_page_footer_names_as_many_formats_as_it_counts(client, pack):
    page = client.get("/").get_data(as_text=True)
    assert "Download in eight formats (MP3 V0 or 320, AAC, Opus, FLAC, ALAC, WAV, AIFF)" in page
    pack_page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert "Eight formats to choose from after paying" in pack_page
    assert pack_page.count('<th scope="row">') == len(FORMATS)  # one row per format in "Formats and sizes"


def test_the_receipt_reads_well(app, pack):
    order, token = factories.make_order(app, pack)
    send_receipt(order, token)
    [path] = sorted(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Your music from {pack.title}"
    text = message.get_body(("plain",)).get_content()
    assert "in any of eight formats (MP3 V0 or 320, AAC, Opus, FLAC, ALAC, WAV, AIFF)" in text


def test_counts_are_pluralised():
    assert counted(1, "hour") == "1 hour" and counted(0, "hour") == "0 hours" and counted(2, "hour") == "2 hours"
    assert counted(1200, "order") == "1,200 orders" and counted(2, "copy", "copies") == "2 copies"
    assert plural("day", 1) == "day" and plural("day", 7) == "days"


def test_one_track_and_one_album_are_singular(app, client):
    factories.make_pack(app, slug="single", albums=(("Solo", "One Song", "folk", ["Only"]),))
    assert "1 album ·" in client.get("/").get_data(as_text=True)
    page = client.get("/packs/single").get_data(as_text=True)
    assert "· 1 track ·" in page and "1 tracks" not in page
    assert "· 3 tracks ·" not in page
