"""get_metadata, list_folder (+continue), create_folder_v2, delete_v2, download."""

from __future__ import annotations

import pytest
from dropbox.exceptions import ApiError, BadInputError
from dropbox.files import DeletedMetadata, FileMetadata, FolderMetadata, WriteMode


def test_get_metadata_file_and_folder(store_dbx):
    store_dbx.files_upload(b"abc", "/Albums/Blue/01 Intro.flac")
    file = store_dbx.files_get_metadata("/albums/blue/01 intro.FLAC")
    assert isinstance(file, FileMetadata)
    assert file.path_display == "/Albums/Blue/01 Intro.flac"
    assert file.path_lower == "/albums/blue/01 intro.flac"
    assert file.size == 3 and file.is_downloadable
    folder = store_dbx.files_get_metadata("/ALBUMS/Blue")
    assert isinstance(folder, FolderMetadata)
    assert folder.path_display == "/Albums/Blue"


def test_get_metadata_by_id(store_dbx):
    uploaded = store_dbx.files_upload(b"abc", "/x.txt")
    assert store_dbx.files_get_metadata(uploaded.id).path_display == "/x.txt"


def test_get_metadata_root_is_bad_input(store_dbx):
    with pytest.raises(BadInputError, match="The root folder is unsupported"):
        store_dbx.files_get_metadata("/")


def test_get_metadata_not_found_and_malformed(store_dbx):
    with pytest.raises(ApiError) as missing:
        store_dbx.files_get_metadata("/nothing/here")
    assert missing.value.error.get_path().is_not_found()
    with pytest.raises(ApiError) as malformed:
        store_dbx.files_get_metadata("/a//b")
    assert malformed.value.error.get_path().is_malformed_path()


def test_paths_are_app_folder_relative(store_dbx, emulator, names):
    store_dbx.files_upload(b"abc", "/in-app.txt")
    files = emulator.list_files(names.store_email, names.app_key)
    assert files == [{"path_display": "/in-app.txt", "size": 3,
                      "content_hash": store_dbx.files_get_metadata("/in-app.txt").content_hash}]
    namespace = emulator.account(names.store_email).namespace
    assert namespace.get(f"/Apps/{names.app_name}/in-app.txt") is not None


def test_apps_do_not_see_each_other(link, sdk_client, names, store_dbx):
    store_dbx.files_upload(b"abc", "/secret.txt")
    other = sdk_client(link(names.store_email, app_key=names.other_key)["access_token"])
    with pytest.raises(ApiError):
        other.files_get_metadata("/secret.txt")
    assert other.files_list_folder("").entries == []


def test_implicit_parents_keep_existing_casing(store_dbx):
    store_dbx.files_create_folder_v2("/Albums")
    uploaded = store_dbx.files_upload(b"x", "/albums/New Folder/track.mp3")
    assert uploaded.path_display == "/Albums/New Folder/track.mp3"
    assert isinstance(store_dbx.files_get_metadata("/albums/new folder"), FolderMetadata)


def test_list_folder_root_and_recursive(store_dbx):
    store_dbx.files_upload(b"1", "/A/one.txt")
    store_dbx.files_upload(b"2", "/A/B/two.txt")
    store_dbx.files_upload(b"3", "/top.txt")
    root = store_dbx.files_list_folder("")
    assert sorted(e.path_display for e in root.entries) == ["/A", "/top.txt"]
    assert not root.has_more
    recursive = store_dbx.files_list_folder("/a", recursive=True)
    assert [e.path_display for e in recursive.entries] == [
        "/A", "/A/B", "/A/B/two.txt", "/A/one.txt"]
    assert isinstance(recursive.entries[0], FolderMetadata)


def test_list_folder_limit_and_continue(store_dbx):
    for index in range(5):
        store_dbx.files_upload(str(index).encode(), f"/many/{index}.txt")
    first = store_dbx.files_list_folder("/many", limit=2)
    assert len(first.entries) == 2 and first.has_more
    second = store_dbx.files_list_folder_continue(first.cursor)
    third = store_dbx.files_list_folder_continue(second.cursor)
    names_seen = [e.name for e in first.entries + second.entries + third.entries]
    assert names_seen == ["0.txt", "1.txt", "2.txt", "3.txt", "4.txt"]
    assert not third.has_more


def test_list_folder_continue_reports_changes(store_dbx):
    store_dbx.files_upload(b"1", "/watch/keep.txt")
    store_dbx.files_upload(b"2", "/watch/gone.txt")
    listing = store_dbx.files_list_folder("/watch")
    assert store_dbx.files_list_folder_continue(listing.cursor).entries == []
    store_dbx.files_upload(b"3", "/watch/new.txt")
    store_dbx.files_delete_v2("/watch/gone.txt")
    store_dbx.files_upload(b"elsewhere", "/other.txt")
    changes = store_dbx.files_list_folder_continue(listing.cursor)
    by_name = {e.name: e for e in changes.entries}
    assert set(by_name) == {"new.txt", "gone.txt"}
    assert isinstance(by_name["gone.txt"], DeletedMetadata)
    assert isinstance(by_name["new.txt"], FileMetadata)


def test_list_folder_errors(store_dbx):
    store_dbx.files_upload(b"1", "/f.txt")
    with pytest.raises(ApiError) as not_found:
        store_dbx.files_list_folder("/missing")
    assert not_found.value.error.get_path().is_not_found()
    with pytest.raises(ApiError) as not_folder:
        store_dbx.files_list_folder("/f.txt")
    assert not_folder.value.error.get_path().is_not_folder()
    with pytest.raises(BadInputError, match="empty string"):
        store_dbx.files_list_folder("/")
    with pytest.raises(BadInputError, match="cursor"):
        store_dbx.files_list_folder_continue("garbage")


def test_create_folder_and_conflicts(store_dbx):
    created = store_dbx.files_create_folder_v2("/Albums/Blue")
    assert created.metadata.path_display == "/Albums/Blue"
    assert isinstance(store_dbx.files_get_metadata("/Albums"), FolderMetadata)
    with pytest.raises(ApiError) as folder_conflict:
        store_dbx.files_create_folder_v2("/albums/BLUE")
    conflict = folder_conflict.value.error.get_path().get_conflict()
    assert conflict.is_folder()
    renamed = store_dbx.files_create_folder_v2("/Albums/Blue", autorename=True)
    assert renamed.metadata.name == "Blue (1)"
    store_dbx.files_upload(b"x", "/file.txt")
    with pytest.raises(ApiError) as file_conflict:
        store_dbx.files_create_folder_v2("/file.txt")
    assert file_conflict.value.error.get_path().get_conflict().is_file()
    with pytest.raises(ApiError) as ancestor:
        store_dbx.files_create_folder_v2("/file.txt/sub")
    assert ancestor.value.error.get_path().get_conflict().is_file_ancestor()


def test_delete_file_and_folder(store_dbx):
    store_dbx.files_upload(b"1", "/D/a.txt")
    store_dbx.files_upload(b"2", "/D/E/b.txt")
    deleted_file = store_dbx.files_delete_v2("/d/a.txt")
    assert isinstance(deleted_file.metadata, FileMetadata)
    deleted_folder = store_dbx.files_delete_v2("/D")
    assert isinstance(deleted_folder.metadata, FolderMetadata)
    with pytest.raises(ApiError) as gone:
        store_dbx.files_get_metadata("/D/E/b.txt")
    assert gone.value.error.get_path().is_not_found()
    with pytest.raises(ApiError) as missing:
        store_dbx.files_delete_v2("/D")
    assert missing.value.error.get_path_lookup().is_not_found()


def test_delete_with_stale_parent_rev_is_conflict(store_dbx):
    first = store_dbx.files_upload(b"1", "/r.txt")
    store_dbx.files_upload(b"2", "/r.txt", mode=WriteMode.overwrite)
    with pytest.raises(ApiError) as caught:
        store_dbx.files_delete_v2("/r.txt", parent_rev=first.rev)
    assert caught.value.error.is_path_write()


def test_download_errors(store_dbx):
    store_dbx.files_create_folder_v2("/folder")
    with pytest.raises(ApiError) as not_file:
        store_dbx.files_download("/folder")
    assert not_file.value.error.get_path().is_not_file()
    with pytest.raises(ApiError) as not_found:
        store_dbx.files_download("/nope.bin")
    assert not_found.value.error.get_path().is_not_found()


def test_download_streams_content(store_dbx):
    payload = bytes(range(256)) * 40_000
    store_dbx.files_upload(payload, "/big.bin")
    metadata, response = store_dbx.files_download("/big.bin")
    assert metadata.size == len(payload)
    received = b"".join(response.iter_content(65536))
    response.close()
    assert received == payload


def test_unicode_paths_roundtrip(store_dbx):
    path = "/Sigur Rós/Ágætis byrjun/01 – Intro ☃ 音楽.flac"
    uploaded = store_dbx.files_upload("♫".encode(), path)
    assert uploaded.path_display == path
    assert uploaded.name == "01 – Intro ☃ 音楽.flac"
    listing = store_dbx.files_list_folder("/sigur rós", recursive=True)
    assert path in [e.path_display for e in listing.entries]
    assert store_dbx.files_download(path.upper())[1].content == "♫".encode()
