"""files/save_url and files/save_url/check_job_status."""

from __future__ import annotations

import pytest
from dropbox.exceptions import ApiError

from dropbox_emulator.contenthash import content_hash
from tests.dropbox_emulator.conftest import wait_for_job


def test_save_url_completes_with_file_metadata(store_dbx, file_server):
    base, files = file_server
    files["/track.flac"] = b"fetched by the emulator" * 1000
    launched = store_dbx.files_save_url("/Saved/track.flac", f"{base}/track.flac")
    assert launched.is_async_job_id()
    status = wait_for_job(store_dbx, launched.get_async_job_id())
    assert status.is_complete()
    metadata = status.get_complete()
    assert metadata.path_display == "/Saved/track.flac"
    assert metadata.size == len(files["/track.flac"])
    assert metadata.content_hash == content_hash(files["/track.flac"])
    assert store_dbx.files_download("/Saved/track.flac")[1].content == files["/track.flac"]


def test_save_url_http_error_fails_with_download_failed(store_dbx, file_server):
    base, _ = file_server
    launched = store_dbx.files_save_url("/missing.bin", f"{base}/does-not-exist")
    status = wait_for_job(store_dbx, launched.get_async_job_id())
    assert status.is_failed()
    assert status.get_failed().is_download_failed()


def test_save_url_unreachable_host_fails(store_dbx):
    launched = store_dbx.files_save_url("/x.bin", "http://127.0.0.1:9/nothing")
    status = wait_for_job(store_dbx, launched.get_async_job_id())
    assert status.get_failed().is_download_failed()


def test_save_url_invalid_url(store_dbx):
    with pytest.raises(ApiError) as caught:
        store_dbx.files_save_url("/x.bin", "ftp://example.com/x")
    assert caught.value.error.is_invalid_url()


def test_save_url_existing_target_is_conflict(store_dbx, file_server):
    base, _ = file_server
    store_dbx.files_upload(b"x", "/taken.bin")
    with pytest.raises(ApiError) as caught:
        store_dbx.files_save_url("/taken.bin", f"{base}/whatever")
    assert caught.value.error.get_path().get_conflict().is_file()


def test_check_unknown_job_is_invalid_async_job_id(store_dbx, buyer_dbx, file_server):
    with pytest.raises(ApiError) as caught:
        store_dbx.files_save_url_check_job_status("dbjid:nope")
    assert caught.value.error.is_invalid_async_job_id()
    base, files = file_server
    files["/private"] = b"x"
    job = store_dbx.files_save_url("/private.bin", f"{base}/private").get_async_job_id()
    with pytest.raises(ApiError) as foreign:
        buyer_dbx.files_save_url_check_job_status(job)
    assert foreign.value.error.is_invalid_async_job_id()
    wait_for_job(store_dbx, job)
