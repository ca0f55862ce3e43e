"""files/upload (write modes, autorename, hashes, size limit) and upload sessions."""

from __future__ import annotations

import pytest
from dropbox.exceptions import ApiError, BadInputError
from dropbox.files import CommitInfo, UploadSessionCursor, WriteMode

from dropbox_emulator.contenthash import content_hash

MiB = 1024 * 1024


def test_upload_add_returns_file_metadata(store_dbx):
    metadata = store_dbx.files_upload(b"abc", "/Albums/a.flac")
    assert metadata.name == "a.flac"
    assert metadata.path_display == "/Albums/a.flac"
    assert metadata.size == 3
    assert metadata.content_hash == content_hash(b"abc")


def test_add_conflict_and_autorename(store_dbx):
    store_dbx.files_upload(b"one", "/song.mp3")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload(b"two", "/SONG.mp3")
    error = caught.value.error
    assert error.is_path()
    assert error.get_path().reason.get_conflict().is_file()
    assert error.get_path().upload_session_id.startswith("pid_upload_session:")
    renamed = store_dbx.files_upload(b"two", "/song.mp3", autorename=True)
    assert renamed.path_display == "/song (1).mp3"
    again = store_dbx.files_upload(b"three", "/song.mp3", autorename=True)
    assert again.path_display == "/song (2).mp3"


def test_conflict_upload_session_can_be_finished_elsewhere(store_dbx):
    store_dbx.files_upload(b"one", "/a.txt")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload(b"other", "/a.txt")
    session_id = caught.value.error.get_path().upload_session_id
    saved = store_dbx.files_upload_session_finish(
        b"", UploadSessionCursor(session_id, 5), CommitInfo("/b.txt"))
    assert saved.size == 5
    assert store_dbx.files_download("/b.txt")[1].content == b"other"


def test_identical_content_is_not_a_conflict(store_dbx):
    first = store_dbx.files_upload(b"same", "/same.txt")
    second = store_dbx.files_upload(b"same", "/same.txt")
    assert second.id == first.id and second.rev == first.rev
    with pytest.raises(ApiError) as strict:
        store_dbx.files_upload(b"same", "/same.txt", strict_conflict=True)
    assert strict.value.error.get_path().reason.get_conflict().is_file()


def test_overwrite_keeps_id_and_changes_rev(store_dbx):
    first = store_dbx.files_upload(b"one", "/o.txt")
    second = store_dbx.files_upload(b"two!", "/o.txt", mode=WriteMode.overwrite)
    assert second.id == first.id
    assert second.rev != first.rev
    assert store_dbx.files_download("/o.txt")[1].content == b"two!"


def test_update_mode(store_dbx):
    first = store_dbx.files_upload(b"v1", "/u.txt")
    second = store_dbx.files_upload(b"v2", "/u.txt", mode=WriteMode.update(first.rev))
    assert second.rev != first.rev
    with pytest.raises(ApiError) as stale:
        store_dbx.files_upload(b"v3", "/u.txt", mode=WriteMode.update(first.rev))
    assert stale.value.error.get_path().reason.get_conflict().is_file()
    copy = store_dbx.files_upload(b"v3", "/u.txt", mode=WriteMode.update(first.rev),
                                  autorename=True)
    assert copy.name == "u (conflicted copy).txt"


def test_folder_at_target_is_a_conflict(store_dbx):
    store_dbx.files_create_folder_v2("/dir")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload(b"x", "/dir", mode=WriteMode.overwrite)
    assert caught.value.error.get_path().reason.get_conflict().is_folder()


def test_file_ancestor_is_a_conflict(store_dbx):
    store_dbx.files_upload(b"x", "/file")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload(b"y", "/file/child")
    assert caught.value.error.get_path().reason.get_conflict().is_file_ancestor()


def test_client_modified_is_kept(store_dbx):
    import datetime

    moment = datetime.datetime(2020, 5, 6, 7, 8, 9)
    metadata = store_dbx.files_upload(b"x", "/when.txt", client_modified=moment)
    assert metadata.client_modified == moment


def test_content_hash_mismatch(store_dbx):
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload(b"abc", "/h.txt", content_hash="0" * 64)
    assert caught.value.error.is_content_hash_mismatch()
    with pytest.raises(ApiError):
        store_dbx.files_get_metadata("/h.txt")


def test_upload_without_auto_hash_still_works(sdk_client, link, names):
    dbx = sdk_client(link(names.store_email)["access_token"], auto_content_hash=False)
    assert dbx.files_upload(b"abc", "/plain.txt").content_hash == content_hash(b"abc")


@pytest.mark.slow
def test_upload_over_150_mib_is_payload_too_large(store_dbx, emulator):
    payload = bytes(150 * MiB + 1)
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload(payload, "/huge.bin")
    assert caught.value.error.is_payload_too_large()
    del payload
    exact = store_dbx.files_upload_session_start(bytes(150 * MiB))
    assert exact.session_id


def test_upload_session_roundtrip(store_dbx):
    start = store_dbx.files_upload_session_start(b"hello")
    cursor = UploadSessionCursor(start.session_id, 5)
    store_dbx.files_upload_session_append_v2(b", wor", cursor)
    cursor.offset = 10
    metadata = store_dbx.files_upload_session_finish(b"ld", cursor, CommitInfo("/hw.txt"))
    assert metadata.size == 12
    assert metadata.content_hash == content_hash(b"hello, world")
    assert store_dbx.files_download("/hw.txt")[1].content == b"hello, world"


def test_append_incorrect_offset_reports_correct_offset(store_dbx):
    start = store_dbx.files_upload_session_start(b"12345678")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_append_v2(b"9", UploadSessionCursor(start.session_id, 3))
    assert caught.value.error.is_incorrect_offset()
    assert caught.value.error.get_incorrect_offset().correct_offset == 8


def test_finish_incorrect_offset_is_lookup_failed(store_dbx):
    start = store_dbx.files_upload_session_start(b"1234567890")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_finish(b"", UploadSessionCursor(start.session_id, 4),
                                              CommitInfo("/x.bin"))
    lookup = caught.value.error.get_lookup_failed()
    assert lookup.is_incorrect_offset()
    assert lookup.get_incorrect_offset().correct_offset == 10


def test_append_to_closed_session(store_dbx):
    start = store_dbx.files_upload_session_start(b"abc", close=True)
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_append_v2(b"d", UploadSessionCursor(start.session_id, 3))
    assert caught.value.error.is_closed()
    metadata = store_dbx.files_upload_session_finish(
        b"", UploadSessionCursor(start.session_id, 3), CommitInfo("/closed.txt"))
    assert metadata.size == 3


def test_append_close_then_finish(store_dbx):
    start = store_dbx.files_upload_session_start(b"ab")
    store_dbx.files_upload_session_append_v2(b"cd", UploadSessionCursor(start.session_id, 2),
                                             close=True)
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_finish(b"e", UploadSessionCursor(start.session_id, 4),
                                              CommitInfo("/x.txt"))
    assert caught.value.error.get_lookup_failed().is_closed()


def test_unknown_session_is_not_found(store_dbx):
    cursor = UploadSessionCursor("pid_upload_session:nope", 0)
    with pytest.raises(ApiError) as append:
        store_dbx.files_upload_session_append_v2(b"x", cursor)
    assert append.value.error.is_not_found()
    with pytest.raises(ApiError) as finish:
        store_dbx.files_upload_session_finish(b"", cursor, CommitInfo("/x"))
    assert finish.value.error.get_lookup_failed().is_not_found()


def test_sessions_are_private_to_their_account(store_dbx, buyer_dbx):
    start = store_dbx.files_upload_session_start(b"abc")
    with pytest.raises(ApiError) as caught:
        buyer_dbx.files_upload_session_append_v2(b"d", UploadSessionCursor(start.session_id, 3))
    assert caught.value.error.is_not_found()


def test_finished_session_is_gone(store_dbx):
    start = store_dbx.files_upload_session_start(b"abc")
    cursor = UploadSessionCursor(start.session_id, 3)
    store_dbx.files_upload_session_finish(b"", cursor, CommitInfo("/done.txt"))
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_finish(b"", cursor, CommitInfo("/again.txt"))
    assert caught.value.error.get_lookup_failed().is_not_found()


def test_append_hash_mismatch_leaves_session_usable(store_dbx):
    start = store_dbx.files_upload_session_start(b"abc")
    cursor = UploadSessionCursor(start.session_id, 3)
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_append_v2(b"def", cursor, content_hash="f" * 64)
    assert caught.value.error.is_content_hash_mismatch()
    store_dbx.files_upload_session_append_v2(b"def", cursor)
    metadata = store_dbx.files_upload_session_finish(
        b"", UploadSessionCursor(start.session_id, 6), CommitInfo("/abcdef.txt"))
    assert metadata.content_hash == content_hash(b"abcdef")


def test_start_hash_mismatch(store_dbx):
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_start(b"abc", content_hash="e" * 64)
    assert caught.value.error.is_content_hash_mismatch()


def test_finish_conflict_is_path_error(store_dbx):
    store_dbx.files_upload(b"existing", "/taken.txt")
    start = store_dbx.files_upload_session_start(b"new content")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_upload_session_finish(b"", UploadSessionCursor(start.session_id, 11),
                                              CommitInfo("/taken.txt"))
    assert caught.value.error.get_path().get_conflict().is_file()
    renamed = store_dbx.files_upload_session_finish(
        b"", UploadSessionCursor(start.session_id, 11), CommitInfo("/taken.txt", autorename=True))
    assert renamed.name == "taken (1).txt"


def test_concurrent_session_type_is_refused_clearly(store_dbx):
    from dropbox.files import UploadSessionType

    with pytest.raises(BadInputError, match="sequential"):
        store_dbx.files_upload_session_start(b"", session_type=UploadSessionType.concurrent)
