"""The /home view: accounts, browsing, escaping."""

from __future__ import annotations


def test_home_lists_accounts_and_browses_files(transport, store_dbx, names):
    store_dbx.files_upload(b"music", "/Albums/Blue/01 Intro.flac")
    home = transport.session.get(f"{transport.base_url}/home")
    assert home.status_code == 200 and names.store_email in home.text
    root = transport.session.get(f"{transport.base_url}/home/{names.store_email}/files/")
    assert "Apps/" in root.text
    album = transport.session.get(
        f"{transport.base_url}/home/{names.store_email}/files/Apps/{names.app_name}/Albums/Blue")
    assert album.status_code == 200 and "01 Intro.flac" in album.text
    file_page = transport.session.get(
        f"{transport.base_url}/home/{names.store_email}/files/Apps/{names.app_name}"
        "/Albums/Blue/01 Intro.flac")
    assert "5 bytes" in file_page.text
    raw = transport.session.get(
        f"{transport.base_url}/home/{names.store_email}/raw/Apps/{names.app_name}"
        "/Albums/Blue/01 Intro.flac")
    assert raw.content == b"music"


def test_home_escapes_names(transport, store_dbx, names):
    store_dbx.files_upload(b"x", '/<script>alert("x")</script>.mp3')
    page = transport.session.get(
        f"{transport.base_url}/home/{names.store_email}/files/Apps/{names.app_name}")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_home_unknown_account_is_404(transport):
    assert transport.session.get(f"{transport.base_url}/home/ghost@x.y/files/").status_code == 404
