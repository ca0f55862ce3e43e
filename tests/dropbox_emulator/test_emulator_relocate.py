"""copy_v2, move_v2, move_batch_v2 (+check_v2), copy_batch_v2, delete_v2 on folders, delete_batch."""

from __future__ import annotations

import pytest
from dropbox.exceptions import ApiError, AuthError
from dropbox.files import (
    DeleteArg,
    DeletedMetadata,
    FileMetadata,
    FolderMetadata,
    RelocationPath,
)


def moves(*pairs: tuple[str, str]) -> list[RelocationPath]:
    return [RelocationPath(source, target) for source, target in pairs]


def batch_mode(transport, asynchronous: bool = True, checks: int = 0) -> None:
    response = transport.control("POST", "/settings", json={
        "batch_async": asynchronous, "batch_in_progress_checks": checks})
    assert response.status_code == 200, response.text


def entries_of(launch_or_status):
    assert launch_or_status.is_complete()
    return launch_or_status.get_complete().entries


# -- move_v2 and copy_v2 -----------------------------------------------------------------------

def test_move_file_keeps_id_and_content_hash(store_dbx):
    uploaded = store_dbx.files_upload(b"abc", "/Inbox/a.flac")
    moved = store_dbx.files_move_v2("/inbox/a.flac", "/Albums/Blue/a.flac").metadata
    assert isinstance(moved, FileMetadata)
    assert moved.path_display == "/Albums/Blue/a.flac"
    assert (moved.id, moved.content_hash, moved.size) == (
        uploaded.id, uploaded.content_hash, uploaded.size)
    assert store_dbx.files_get_metadata(uploaded.id).path_display == "/Albums/Blue/a.flac"
    with pytest.raises(ApiError):
        store_dbx.files_get_metadata("/Inbox/a.flac")
    assert store_dbx.files_download("/Albums/Blue/a.flac")[1].content == b"abc"


def test_move_folder_moves_its_subtree(store_dbx):
    track = store_dbx.files_upload(b"1", "/Staging/Blue/Disc 2/02.flac")
    folder = store_dbx.files_get_metadata("/Staging/Blue")
    moved = store_dbx.files_move_v2("/Staging/Blue", "/Albums/Blue").metadata
    assert isinstance(moved, FolderMetadata) and moved.id == folder.id
    listing = store_dbx.files_list_folder("/Albums/Blue", recursive=True).entries
    assert [e.path_display for e in listing] == [
        "/Albums/Blue", "/Albums/Blue/Disc 2", "/Albums/Blue/Disc 2/02.flac"]
    assert listing[2].id == track.id
    assert [e.name for e in store_dbx.files_list_folder("/Staging").entries] == []


def test_move_errors(store_dbx):
    store_dbx.files_upload(b"1", "/a.flac")
    store_dbx.files_upload(b"2", "/b.flac")
    store_dbx.files_create_folder_v2("/Folder/Inner")
    with pytest.raises(ApiError) as missing:
        store_dbx.files_move_v2("/nope.flac", "/x.flac")
    assert missing.value.error.is_from_lookup()
    assert missing.value.error.get_from_lookup().is_not_found()
    with pytest.raises(ApiError) as conflict:
        store_dbx.files_move_v2("/a.flac", "/B.flac")
    assert conflict.value.error.is_to() and conflict.value.error.get_to().get_conflict().is_file()
    with pytest.raises(ApiError) as into_folder:
        store_dbx.files_move_v2("/a.flac", "/folder")
    assert into_folder.value.error.get_to().get_conflict().is_folder()
    with pytest.raises(ApiError) as itself:
        store_dbx.files_move_v2("/Folder", "/Folder/Inner/Folder")
    assert itself.value.error.is_cant_move_folder_into_itself()
    with pytest.raises(ApiError) as under_file:
        store_dbx.files_move_v2("/b.flac", "/a.flac/b.flac")
    assert under_file.value.error.get_to().get_conflict().is_file_ancestor()


def test_move_autorename(store_dbx):
    store_dbx.files_upload(b"1", "/a.flac")
    store_dbx.files_upload(b"2", "/Dest/a.flac")
    moved = store_dbx.files_move_v2("/a.flac", "/Dest/a.flac", autorename=True).metadata
    assert moved.path_display == "/Dest/a (1).flac"


def test_copy_file_and_folder(store_dbx):
    original = store_dbx.files_upload(b"abc", "/Blue/01.flac")
    copied = store_dbx.files_copy_v2("/Blue/01.flac", "/Copy.flac").metadata
    assert copied.content_hash == original.content_hash and copied.id != original.id
    folder = store_dbx.files_copy_v2("/Blue", "/Blue 2").metadata
    assert isinstance(folder, FolderMetadata) and folder.path_display == "/Blue 2"
    assert store_dbx.files_download("/Blue 2/01.flac")[1].content == b"abc"
    assert store_dbx.files_download("/Blue/01.flac")[1].content == b"abc"
    assert store_dbx.users_get_space_usage().used == 9


def test_copy_past_the_allocation_is_insufficient_quota(store_dbx, transport, names):
    store_dbx.files_upload(b"12345", "/Blue/01.flac")
    transport.control("POST", f"/accounts/{names.store_email}/space", json={"allocated": 9})
    with pytest.raises(ApiError) as caught:
        store_dbx.files_copy_v2("/Blue", "/Blue 2")
    assert caught.value.error.is_insufficient_quota()
    with pytest.raises(ApiError):
        store_dbx.files_get_metadata("/Blue 2")
    with pytest.raises(ApiError) as conflict:  # a conflict is reported first
        store_dbx.files_copy_v2("/Blue/01.flac", "/Blue/01.flac")
    assert conflict.value.error.get_to().get_conflict().is_file()


def test_list_folder_continue_sees_a_move(store_dbx):
    store_dbx.files_upload(b"1", "/Inbox/a.flac")
    cursor = store_dbx.files_list_folder("", recursive=True).cursor
    store_dbx.files_move_v2("/Inbox/a.flac", "/Albums/a.flac")
    changes = store_dbx.files_list_folder_continue(cursor).entries
    deleted = [e.path_display for e in changes if isinstance(e, DeletedMetadata)]
    files = [e.path_display for e in changes if isinstance(e, FileMetadata)]
    assert deleted == ["/Inbox/a.flac"] and files == ["/Albums/a.flac"]


# -- move_batch_v2 -----------------------------------------------------------------------------

def test_move_batch_answers_a_job_by_default_with_per_entry_results(store_dbx):
    first = store_dbx.files_upload(b"1", "/Inbox/01.flac")
    store_dbx.files_upload(b"2", "/Inbox/02.flac")
    store_dbx.files_upload(b"x", "/Albums/Blue/02.flac")
    launch = store_dbx.files_move_batch_v2(moves(
        ("/Inbox/01.flac", "/Albums/Blue/01.flac"),
        ("/Inbox/02.flac", "/Albums/Blue/02.flac"),
        ("/Inbox/03.flac", "/Albums/Blue/03.flac"),
    ))
    assert launch.is_async_job_id()
    entries = entries_of(store_dbx.files_move_batch_check_v2(launch.get_async_job_id()))
    assert len(entries) == 3
    assert entries[0].is_success()
    success = entries[0].get_success()
    assert isinstance(success, FileMetadata)
    assert (success.path_display, success.id, success.content_hash) == (
        "/Albums/Blue/01.flac", first.id, first.content_hash)
    conflict = entries[1].get_failure().get_relocation_error()
    assert conflict.is_to() and conflict.get_to().get_conflict().is_file()
    missing = entries[2].get_failure().get_relocation_error()
    assert missing.is_from_lookup() and missing.get_from_lookup().is_not_found()
    assert store_dbx.files_download("/Albums/Blue/02.flac")[1].content == b"x"
    assert store_dbx.files_get_metadata("/Inbox/02.flac").size == 1


def test_move_batch_complete_at_once(store_dbx, transport):
    batch_mode(transport, asynchronous=False)
    store_dbx.files_upload(b"1", "/a.flac")
    store_dbx.files_create_folder_v2("/Folder")
    entries = entries_of(store_dbx.files_move_batch_v2(moves(
        ("/a.flac", "/Done/a.flac"), ("/Folder", "/Done/Folder"))))
    assert [e.get_success().path_display for e in entries] == ["/Done/a.flac", "/Done/Folder"]
    assert isinstance(entries[1].get_success(), FolderMetadata)


def test_move_batch_in_progress_checks_then_complete(store_dbx, transport):
    batch_mode(transport, checks=2)
    store_dbx.files_upload(b"1", "/a.flac")
    job = store_dbx.files_move_batch_v2(moves(("/a.flac", "/b.flac"))).get_async_job_id()
    assert store_dbx.files_move_batch_check_v2(job).is_in_progress()
    assert store_dbx.files_move_batch_check_v2(job).is_in_progress()
    assert entries_of(store_dbx.files_move_batch_check_v2(job))[0].is_success()
    assert entries_of(store_dbx.files_move_batch_check_v2(job))[0].is_success()


def test_batch_mode_in_process(store_dbx, emulator):
    emulator.set_batch_mode(False)
    store_dbx.files_upload(b"1", "/a.flac")
    assert store_dbx.files_move_batch_v2(moves(("/a.flac", "/b.flac"))).is_complete()
    emulator.set_batch_mode(True, in_progress_checks=1)
    job = store_dbx.files_move_batch_v2(moves(("/b.flac", "/c.flac"))).get_async_job_id()
    assert store_dbx.files_move_batch_check_v2(job).is_in_progress()
    assert store_dbx.files_move_batch_check_v2(job).is_complete()
    with pytest.raises(ValueError):
        emulator.set_batch_mode(True, in_progress_checks=-1)


def test_batch_settings_validation(transport):
    current = transport.control("GET", "/settings").json()
    assert current["batch_async"] is True and current["batch_in_progress_checks"] == 0
    assert transport.control("POST", "/settings", json={"batch_async": "yes"}).status_code == 400
    assert transport.control("POST", "/settings",
                             json={"batch_in_progress_checks": -1}).status_code == 400


def test_move_batch_autorename_and_sequential_entries(store_dbx, transport):
    batch_mode(transport, asynchronous=False)
    store_dbx.files_upload(b"1", "/a.flac")
    store_dbx.files_upload(b"2", "/b.flac")
    store_dbx.files_upload(b"3", "/Dest/a.flac")
    entries = entries_of(store_dbx.files_move_batch_v2(
        moves(("/a.flac", "/Dest/a.flac"), ("/b.flac", "/Dest/a.flac")), autorename=True))
    assert [e.get_success().name for e in entries] == ["a (1).flac", "a (2).flac"]


def test_move_batch_check_errors(store_dbx, buyer_dbx, transport):
    with pytest.raises(ApiError) as unknown:
        store_dbx.files_move_batch_check_v2("dbjid:nope")
    assert unknown.value.error.is_invalid_async_job_id()
    store_dbx.files_upload(b"1", "/a.flac")
    job = store_dbx.files_move_batch_v2(moves(("/a.flac", "/b.flac"))).get_async_job_id()
    with pytest.raises(ApiError) as foreign:
        buyer_dbx.files_move_batch_check_v2(job)
    assert foreign.value.error.is_invalid_async_job_id()
    with pytest.raises(ApiError) as other_kind:
        store_dbx.files_delete_batch_check(job)
    assert other_kind.value.error.is_invalid_async_job_id()


def test_move_batch_wire_shape(store_dbx, transport, link, names):
    batch_mode(transport, asynchronous=False)
    store_dbx.files_upload(b"1", "/a.flac")
    token = link(names.store_email)["access_token"]
    response = transport.session.post(
        "https://api.dropboxapi.com/2/files/move_batch_v2",
        json={"entries": [{"from_path": "/a.flac", "to_path": "/b.flac"},
                          {"from_path": "/gone.flac", "to_path": "/c.flac"}]},
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body[".tag"] == "complete"
    assert body["entries"][0][".tag"] == "success"
    assert body["entries"][0]["success"][".tag"] == "file"
    assert body["entries"][1] == {".tag": "failure", "failure": {
        ".tag": "relocation_error", "relocation_error": {
            ".tag": "from_lookup", "from_lookup": {".tag": "not_found"}}}}
    empty = transport.session.post(
        "https://api.dropboxapi.com/2/files/move_batch_v2", json={"entries": []},
        headers={"Authorization": f"Bearer {token}"})
    assert empty.status_code == 400


def test_copy_batch(store_dbx, transport, names):
    store_dbx.files_upload(b"12345", "/a.flac")
    transport.control("POST", f"/accounts/{names.store_email}/space", json={"allocated": 10})
    job = store_dbx.files_copy_batch_v2(moves(("/a.flac", "/b.flac"), ("/a.flac", "/c.flac")))
    entries = entries_of(store_dbx.files_copy_batch_check_v2(job.get_async_job_id()))
    assert entries[0].get_success().path_display == "/b.flac"
    assert entries[1].get_failure().get_relocation_error().is_insufficient_quota()


def test_move_routes_need_files_content_write(link, sdk_client, names):
    token = link(names.store_email, scopes=["account_info.read", "files.metadata.read"])
    dbx = sdk_client(token["access_token"])
    for call in (lambda: dbx.files_move_v2("/a", "/b"),
                 lambda: dbx.files_move_batch_v2(moves(("/a", "/b"))),
                 lambda: dbx.files_move_batch_check_v2("dbjid:x"),
                 lambda: dbx.files_copy_v2("/a", "/b"),
                 lambda: dbx.files_delete_batch([DeleteArg("/a")])):
        with pytest.raises(AuthError) as caught:
            call()
        assert caught.value.error.get_missing_scope().required_scope == "files.content.write"


# -- delete ------------------------------------------------------------------------------------

def test_delete_v2_folder_removes_its_subtree(store_dbx):
    store_dbx.files_upload(b"1", "/Album/01.flac")
    store_dbx.files_upload(b"22", "/Album/Disc 2/02.flac")
    deleted = store_dbx.files_delete_v2("/album").metadata
    assert isinstance(deleted, FolderMetadata) and deleted.path_display == "/Album"
    for path in ("/Album", "/Album/Disc 2", "/Album/Disc 2/02.flac"):
        with pytest.raises(ApiError):
            store_dbx.files_get_metadata(path)
    assert store_dbx.files_list_folder("").entries == []
    assert store_dbx.users_get_space_usage().used == 0
    with pytest.raises(ApiError) as again:
        store_dbx.files_delete_v2("/Album")
    assert again.value.error.get_path_lookup().is_not_found()


def test_delete_batch(store_dbx, transport):
    store_dbx.files_upload(b"1", "/Album/01.flac")
    store_dbx.files_upload(b"2", "/b.flac")
    launch = store_dbx.files_delete_batch([DeleteArg("/Album"), DeleteArg("/nope"),
                                           DeleteArg("/b.flac")])
    assert launch.is_async_job_id()
    status = store_dbx.files_delete_batch_check(launch.get_async_job_id())
    entries = entries_of(status)
    assert isinstance(entries[0].get_success().metadata, FolderMetadata)
    assert entries[1].get_failure().get_path_lookup().is_not_found()
    assert entries[2].get_success().metadata.path_display == "/b.flac"
    assert store_dbx.users_get_space_usage().used == 0
    batch_mode(transport, asynchronous=False)
    store_dbx.files_upload(b"3", "/c.flac")
    entries = entries_of(store_dbx.files_delete_batch([DeleteArg("/c.flac")]))
    assert entries[0].is_success()


# -- stats -------------------------------------------------------------------------------------

def test_new_routes_are_counted(store_dbx, transport, names):
    store_dbx.files_upload(b"1", "/a.flac")
    transport.control("DELETE", "/stats")
    store_dbx.users_get_space_usage()
    store_dbx.files_copy_v2("/a.flac", "/b.flac")
    store_dbx.files_move_v2("/b.flac", "/c.flac")
    job = store_dbx.files_move_batch_v2(moves(("/c.flac", "/d.flac"))).get_async_job_id()
    store_dbx.files_move_batch_check_v2(job)
    job = store_dbx.files_delete_batch([DeleteArg("/d.flac")]).get_async_job_id()
    store_dbx.files_delete_batch_check(job)
    stats = transport.control("GET", "/stats").json()
    assert stats["accounts"][names.store_email]["calls"] == {
        "users/get_space_usage": 1, "files/copy_v2": 1, "files/move_v2": 1,
        "files/move_batch_v2": 1, "files/move_batch/check_v2": 1,
        "files/delete_batch": 1, "files/delete_batch/check": 1}
    assert stats["accounts"][names.store_email]["calls_total"] == 7
