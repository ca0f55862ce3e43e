"""Space allocation: users/get_space_usage, the space control, insufficient_space on writes."""

from __future__ import annotations

import pytest
from dropbox.exceptions import ApiError, AuthError
from dropbox.files import CommitInfo, FileMetadata, UploadSessionCursor, WriteMode

from dropbox_emulator import create_app
from dropbox_emulator.emulator import UnknownError
from tests.dropbox_emulator.conftest import wait_for_job

GiB = 1024**3


def used(dbx) -> int:
    return dbx.users_get_space_usage().used


def allocate(transport, email: str, allocated: int) -> None:
    response = transport.control("POST", f"/accounts/{email}/space", json={"allocated": allocated})
    assert response.status_code == 200, response.text


def test_new_account_has_2_gib_and_uses_nothing(store_dbx):
    usage = store_dbx.users_get_space_usage()
    assert usage.used == 0
    assert usage.allocation.is_individual()
    assert usage.allocation.get_individual().allocated == 2 * GiB


def test_used_counts_every_file_of_every_app(store_dbx, link, sdk_client, names):
    store_dbx.files_upload(b"abc", "/a.bin")
    store_dbx.files_upload(b"abc", "/Copy/a.bin")  # the same bytes twice count twice
    other = sdk_client(link(names.store_email, app_key=names.other_key)["access_token"])
    other.files_upload(b"12345", "/b.bin")
    store_dbx.files_create_folder_v2("/Empty")
    assert used(store_dbx) == used(other) == 11
    store_dbx.files_upload(b"a", "/a.bin", mode=WriteMode.overwrite)
    assert used(store_dbx) == 9


def test_space_control_reads_and_sets(transport, store_dbx, names):
    store_dbx.files_upload(b"abcd", "/x.bin")
    path = f"/accounts/{names.store_email}/space"
    read = transport.control("GET", path)
    assert read.status_code == 200
    assert read.headers["Content-Type"] == "application/json"
    assert read.json() == {"allocated": 2 * GiB, "used": 4}
    changed = transport.control("POST", path, json={"allocated": 10})
    assert changed.json() == {"allocated": 10, "used": 4}
    assert store_dbx.users_get_space_usage().allocation.get_individual().allocated == 10
    assert transport.control("POST", path, json={"allocated": 0}).json()["allocated"] == 0


@pytest.mark.parametrize("body", [{"allocated": -1}, {"allocated": 1.5}, {"allocated": "10"},
                                  {"allocated": True}, {"allocated": None}, {}, [10],
                                  {"allocated": 2**64}])
def test_space_control_rejects_bad_allocations(transport, names, body):
    transport.control("POST", "/accounts", json={"email": names.store_email})
    response = transport.control("POST", f"/accounts/{names.store_email}/space", json=body)
    assert response.status_code == 400
    assert "error" in response.json()


def test_space_control_unknown_account_is_404(transport):
    for method, kwargs in (("GET", {}), ("POST", {"json": {"allocated": 1}})):
        response = transport.control(method, "/accounts/ghost@example.com/space", **kwargs)
        assert response.status_code == 404 and "error" in response.json()


def test_space_in_process(emulator, names, store_dbx):
    store_dbx.files_upload(b"abc", "/a.bin")
    assert emulator.space_usage(names.store_email) == {"allocated": 2 * GiB, "used": 3}
    assert emulator.set_space_allocation(names.store_email, 5) == {"allocated": 5, "used": 3}
    with pytest.raises(ValueError):
        emulator.set_space_allocation(names.store_email, -1)
    with pytest.raises(UnknownError):
        emulator.space_usage("ghost@example.com")


def test_get_space_usage_needs_account_info_read(link, sdk_client, names):
    token = link(names.store_email, scopes=["files.content.write", "files.metadata.read"])
    with pytest.raises(AuthError) as caught:
        sdk_client(token["access_token"]).users_get_space_usage()
    assert caught.value.error.is_missing_scope()
    assert caught.value.error.get_missing_scope().required_scope == "account_info.read"
    allowed = link(names.store_email, scopes=["account_info.read"])
    assert sdk_client(allowed["access_token"]).users_get_space_usage().used == 0


def test_allocation_persists_with_a_data_dir(tmp_path):
    first = create_app(tmp_path, apps=[("k", "s", "Shop")])
    emulator = first.extensions["dropbox_emulator"]
    emulator.create_account("buyer@example.com")
    emulator.seed_file("buyer@example.com", "k", "/a.bin", b"12345")
    emulator.set_space_allocation("buyer@example.com", 1234)
    emulator.close()
    second = create_app(tmp_path).extensions["dropbox_emulator"]
    assert second.space_usage("buyer@example.com") == {"allocated": 1234, "used": 5}
    second.close()


# -- insufficient_space on every write ---------------------------------------------------------

def test_upload_past_the_allocation_is_insufficient_space(store_dbx, transport, names):
    allocate(transport, names.store_email, 10)
    store_dbx.files_upload(b"12345678", "/a.bin")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload(b"123", "/New Folder/b.bin")
    error = caught.value.error
    assert error.is_path() and error.get_path().reason.is_insufficient_space()
    assert error.get_path().upload_session_id.startswith("pid_upload_session:")
    with pytest.raises(ApiError):  # nothing was created, not even the parent folder
        store_dbx.files_get_metadata("/New Folder")
    assert isinstance(store_dbx.files_upload(b"12", "/c.bin"), FileMetadata)  # exactly full
    assert used(store_dbx) == 10
    store_dbx.files_upload(b"1", "/a.bin", mode=WriteMode.overwrite)  # shrinking always works
    assert used(store_dbx) == 3


def test_upload_insufficient_space_wire_shape(store_dbx, transport, names, link):
    allocate(transport, names.store_email, 0)
    token = link(names.store_email)["access_token"]
    response = transport.session.post(
        "https://content.dropboxapi.com/2/files/upload", data=b"x",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                 "Dropbox-API-Arg": '{"path": "/x.bin"}'})
    assert response.status_code == 409
    body = response.json()
    assert body["error_summary"] == "path/insufficient_space/.."
    assert body["error"] == {".tag": "path", "reason": {".tag": "insufficient_space"},
                             "upload_session_id": body["error"]["upload_session_id"]}


def test_upload_session_finish_past_the_allocation(store_dbx, transport, names):
    allocate(transport, names.store_email, 4)
    session_id = store_dbx.files_upload_session_start(b"12345").session_id
    cursor = UploadSessionCursor(session_id, 5)
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_finish(b"", cursor, CommitInfo("/big.bin"))
    assert caught.value.error.is_path()
    assert caught.value.error.get_path().is_insufficient_space()
    allocate(transport, names.store_email, 5)  # the session survives; retrying works
    assert store_dbx.files_upload_session_finish(b"", cursor, CommitInfo("/big.bin")).size == 5


def test_copy_reference_save_counts_the_whole_folder(store_dbx, buyer_dbx, transport, names,
                                                     link):
    store_dbx.files_upload(b"intro", "/Albums/Blue/01.flac")
    store_dbx.files_upload(b"outro", "/Albums/Blue/Disc 2/02.flac")
    reference = store_dbx.files_copy_reference_get("/Albums/Blue").copy_reference
    buyer_dbx.files_upload(b"1", "/mine.txt")
    allocate(transport, names.buyer_email, 10)
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(reference, "/Music/Blue")
    assert caught.value.error.is_path() and caught.value.error.get_path().is_insufficient_space()
    assert [e.name for e in buyer_dbx.files_list_folder("").entries] == ["mine.txt"]
    token = link(names.buyer_email)["access_token"]
    raw = transport.session.post(
        "https://api.dropboxapi.com/2/files/copy_reference/save",
        json={"copy_reference": reference, "path": "/Music/Blue"},
        headers={"Authorization": f"Bearer {token}"})
    assert raw.status_code == 409
    assert raw.json() == {"error_summary": "path/insufficient_space/..",
                          "error": {".tag": "path", "path": {".tag": "insufficient_space"}}}
    allocate(transport, names.buyer_email, 11)
    buyer_dbx.files_copy_reference_save(reference, "/Music/Blue")
    assert used(buyer_dbx) == 11


def test_copy_reference_save_of_a_file_past_the_allocation(store_dbx, buyer_dbx, transport,
                                                           names):
    store_dbx.files_upload(b"12345", "/one.flac")
    reference = store_dbx.files_copy_reference_get("/one.flac").copy_reference
    allocate(transport, names.buyer_email, 4)
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(reference, "/one.flac")
    assert caught.value.error.get_path().is_insufficient_space()


def test_conflict_is_reported_before_space(store_dbx, buyer_dbx, transport, names):
    store_dbx.files_upload(b"12345", "/one.flac")
    reference = store_dbx.files_copy_reference_get("/one.flac").copy_reference
    buyer_dbx.files_create_folder_v2("/Taken")
    allocate(transport, names.buyer_email, 0)
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_copy_reference_save(reference, "/Taken")
    assert caught.value.error.get_path().get_conflict().is_folder()


def test_save_url_past_the_allocation_fails_the_job(store_dbx, transport, names, file_server):
    base, files = file_server
    files["/big.bin"] = b"0123456789"
    allocate(transport, names.store_email, 9)
    job = store_dbx.files_save_url("/big.bin", f"{base}/big.bin").get_async_job_id()
    status = wait_for_job(store_dbx, job)
    assert status.is_failed()
    assert status.get_failed().is_path() and status.get_failed().get_path().is_insufficient_space()
    assert used(store_dbx) == 0
    allocate(transport, names.store_email, 10)
    job = store_dbx.files_save_url("/big.bin", f"{base}/big.bin").get_async_job_id()
    assert wait_for_job(store_dbx, job).is_complete()


def test_folders_and_moves_need_no_space(store_dbx, transport, names):
    store_dbx.files_upload(b"12345", "/a.bin")
    allocate(transport, names.store_email, 0)  # now over the allocation
    store_dbx.files_create_folder_v2("/Folder")
    moved = store_dbx.files_move_v2("/a.bin", "/Folder/a.bin").metadata
    assert moved.path_display == "/Folder/a.bin"
    assert used(store_dbx) == 5


def test_deleting_a_folder_frees_its_space(store_dbx, transport, names):
    store_dbx.files_upload(b"12345", "/Album/01.flac")
    store_dbx.files_upload(b"678", "/Album/Disc 2/02.flac")
    store_dbx.files_upload(b"9", "/keep.txt")
    allocate(transport, names.store_email, 9)
    store_dbx.files_delete_v2("/Album")
    assert used(store_dbx) == 1
    store_dbx.files_upload(b"12345678", "/fits now.bin")
    assert used(store_dbx) == 9
