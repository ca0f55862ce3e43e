"""files/copy_reference/get and /save, including every error in the documented order."""

from __future__ import annotations

import datetime

import pytest
from dropbox.exceptions import ApiError
from dropbox.files import FileMetadata, FolderMetadata


@pytest.fixture
def album(store_dbx):
    store_dbx.files_upload(b"intro", "/Albums/Blue/01 Intro.flac")
    store_dbx.files_upload(b"outro", "/Albums/Blue/Disc 2/02 Outro.flac")
    return store_dbx.files_copy_reference_get("/Albums/Blue")


def test_get_file_reference(store_dbx):
    store_dbx.files_upload(b"abc", "/one.flac")
    result = store_dbx.files_copy_reference_get("/one.flac")
    assert isinstance(result.metadata, FileMetadata)
    assert result.metadata.path_display == "/one.flac"
    assert result.copy_reference
    assert result.expires > datetime.datetime(2040, 1, 1)


def test_get_folder_reference(album):
    assert isinstance(album.metadata, FolderMetadata)
    assert album.metadata.path_display == "/Albums/Blue"


def test_get_missing_is_path_not_found(store_dbx):
    with pytest.raises(ApiError) as caught:
        store_dbx.files_copy_reference_get("/nope")
    assert caught.value.error.get_path().is_not_found()


def test_save_deep_copies_folder_into_buyer(album, buyer_dbx, transport, names):
    transport.control("DELETE", "/stats")
    saved = buyer_dbx.files_copy_reference_save(album.copy_reference, "/Music/Blue")
    assert isinstance(saved.metadata, FolderMetadata)
    assert saved.metadata.path_display == "/Music/Blue"
    listing = buyer_dbx.files_list_folder("/Music/Blue", recursive=True)
    files = {e.path_display: e for e in listing.entries if isinstance(e, FileMetadata)}
    assert set(files) == {"/Music/Blue/01 Intro.flac", "/Music/Blue/Disc 2/02 Outro.flac"}
    assert buyer_dbx.files_download("/music/blue/disc 2/02 outro.flac")[1].content == b"outro"
    stats = transport.control("GET", "/stats").json()
    assert stats["accounts"][names.buyer_email]["bytes_uploaded"] == 0
    assert stats["accounts"][names.buyer_email]["calls"]["files/copy_reference/save"] == 1


def test_save_file_reference_returns_tagged_file(store_dbx, buyer_dbx):
    store_dbx.files_upload(b"abc", "/single.flac")
    reference = store_dbx.files_copy_reference_get("/single.flac").copy_reference
    saved = buyer_dbx.files_copy_reference_save(reference, "/Got/single.flac")
    assert isinstance(saved.metadata, FileMetadata)
    assert saved.metadata.content_hash == store_dbx.files_get_metadata("/single.flac").content_hash


def test_unknown_reference_is_invalid(buyer_dbx):
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save("bogus", "/x")
    assert caught.value.error.is_invalid_copy_reference()


def test_expired_reference_is_invalid(album, buyer_dbx, transport):
    response = transport.control("POST", "/copy-references/expire",
                                 json={"copy_reference": album.copy_reference})
    assert response.status_code == 200
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(album.copy_reference, "/x")
    assert caught.value.error.is_invalid_copy_reference()


def test_reference_from_another_app_is_no_permission(album, link, sdk_client, names):
    other = sdk_client(link(names.buyer_email, app_key=names.other_key)["access_token"])
    with pytest.raises(ApiError) as caught:
        other.files_copy_reference_save(album.copy_reference, "/x")
    assert caught.value.error.is_no_permission()


def test_unlinked_source_account_is_no_permission(album, buyer_dbx, transport, names):
    response = transport.control("POST", "/unlink",
                                 json={"email": names.store_email, "app_key": names.app_key})
    assert response.status_code == 200 and response.json()["revoked"] >= 1
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(album.copy_reference, "/x")
    assert caught.value.error.is_no_permission()


def test_revoking_the_source_token_unlinks(album, buyer_dbx, store_dbx):
    store_dbx.auth_token_revoke()
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(album.copy_reference, "/x")
    assert caught.value.error.is_no_permission()


def test_deleted_source_is_not_found(album, store_dbx, buyer_dbx):
    store_dbx.files_delete_v2("/Albums/Blue")
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(album.copy_reference, "/x")
    assert caught.value.error.is_not_found()


def test_overwritten_file_reference_copies_current_content(store_dbx, buyer_dbx):
    from dropbox.files import WriteMode

    store_dbx.files_upload(b"v1", "/t.flac")
    reference = store_dbx.files_copy_reference_get("/t.flac").copy_reference
    store_dbx.files_upload(b"v2", "/t.flac", mode=WriteMode.overwrite)
    buyer_dbx.files_copy_reference_save(reference, "/t.flac")
    assert buyer_dbx.files_download("/t.flac")[1].content == b"v2"


def test_more_than_10000_entries_is_too_many_files(store_dbx, buyer_dbx, emulator, names):
    for index in range(10_001):
        emulator.seed_file(names.store_email, names.app_key, f"/Huge/{index:05}.txt", b"")
    reference = store_dbx.files_copy_reference_get("/Huge").copy_reference
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(reference, "/Huge")
    assert caught.value.error.is_too_many_files()
    store_dbx.files_delete_v2("/Huge/00000.txt")
    saved = buyer_dbx.files_copy_reference_save(reference, "/Huge")
    assert saved.metadata.name == "Huge"


def test_existing_destination_is_conflict(album, buyer_dbx):
    buyer_dbx.files_create_folder_v2("/Music/Blue")
    with pytest.raises(ApiError) as folder:
        buyer_dbx.files_copy_reference_save(album.copy_reference, "/music/blue")
    assert folder.value.error.get_path().get_conflict().is_folder()
    buyer_dbx.files_upload(b"x", "/Music/Blue.flac")
    with pytest.raises(ApiError) as file:
        buyer_dbx.files_copy_reference_save(album.copy_reference, "/Music/Blue.flac")
    assert file.value.error.get_path().get_conflict().is_file()


def test_error_order(album, store_dbx, buyer_dbx, link, sdk_client, names, transport):
    """When several things are wrong, the first check in the documented order wins."""
    buyer_dbx.files_create_folder_v2("/Taken")
    store_dbx.files_delete_v2("/Albums/Blue")
    # source gone + destination taken -> not_found (source checked first)
    with pytest.raises(ApiError) as gone:
        buyer_dbx.files_copy_reference_save(album.copy_reference, "/Taken")
    assert gone.value.error.is_not_found()
    # other app + source gone -> no_permission
    other = sdk_client(link(names.buyer_email, app_key=names.other_key)["access_token"])
    with pytest.raises(ApiError) as permission:
        other.files_copy_reference_save(album.copy_reference, "/Taken")
    assert permission.value.error.is_no_permission()
    # expired + other app -> invalid_copy_reference
    transport.control("POST", "/copy-references/expire",
                      json={"copy_reference": album.copy_reference})
    with pytest.raises(ApiError) as invalid:
        other.files_copy_reference_save(album.copy_reference, "/Taken")
    assert invalid.value.error.is_invalid_copy_reference()


def test_same_content_is_stored_once(album, buyer_dbx, emulator):
    blobs = sorted((emulator.root / "blobs").rglob("*"))
    buyer_dbx.files_copy_reference_save(album.copy_reference, "/Copy 1")
    buyer_dbx.files_copy_reference_save(album.copy_reference, "/Copy 2")
    assert sorted((emulator.root / "blobs").rglob("*")) == blobs
