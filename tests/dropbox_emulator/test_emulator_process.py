"""``python -m dropbox_emulator`` as a real process: CLI, persistence, memory."""

from __future__ import annotations

import hashlib

import dropbox
import pytest
import requests
from dropbox.files import CommitInfo, UploadSessionCursor

from dropbox_emulator.contenthash import ContentHasher
from dropbox_emulator.testing import EmulatorProcess, RedirectingSession, RssSampler

MiB = 1024 * 1024


def sdk(base_url: str, token: str) -> dropbox.Dropbox:
    return dropbox.Dropbox(token, session=RedirectingSession(base_url), max_retries_on_error=0,
                           max_retries_on_rate_limit=0)


def link(base_url: str, email: str) -> dict:
    response = requests.post(f"{base_url}/__emulator__/tokens",
                             json={"app_key": "clikey", "email": email}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_data_dir_survives_restart(tmp_path):
    with EmulatorProcess(apps=[("clikey", "clisecret", "Demo")], data_dir=tmp_path) as first:
        tokens = link(first.base_url, "store@example.com")
        dbx = sdk(first.base_url, tokens["access_token"])
        dbx.files_upload(b"persisted", "/Albums/Blue/01.flac")
        reference = dbx.files_copy_reference_get("/Albums/Blue").copy_reference
        dbx._session.close()
    with EmulatorProcess(data_dir=tmp_path) as second:
        dbx = sdk(second.base_url, tokens["access_token"])
        metadata, response = dbx.files_download("/albums/blue/01.flac")
        assert response.content == b"persisted"
        buyer = sdk(second.base_url, link(second.base_url, "buyer@example.com")["access_token"])
        saved = buyer.files_copy_reference_save(reference, "/Blue")
        assert saved.metadata.path_display == "/Blue"
        refreshed = dropbox.Dropbox(oauth2_refresh_token=tokens["refresh_token"],
                                    app_key="clikey", app_secret="clisecret",
                                    session=RedirectingSession(second.base_url))
        assert refreshed.users_get_current_account().email == "store@example.com"
        for sdk_client in (dbx, buyer, refreshed):
            sdk_client._session.close()


def test_cli_latency_flag(tmp_path):
    with EmulatorProcess(apps=[("clikey", "clisecret")], latency_ms=120) as server:
        dbx = sdk(server.base_url, link(server.base_url, "a@example.com")["access_token"])
        import time

        started = time.monotonic()
        dbx.files_list_folder("")
        assert time.monotonic() - started >= 0.12
        assert dbx.files_list_folder("").entries == []
        dbx._session.close()


def _chunks(total: int, size: int):
    block = hashlib.sha256(b"album").digest() * (size // 32)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


@pytest.mark.slow
def test_200_mib_upload_session_copy_and_download_keep_memory_flat():
    total, chunk = 200 * MiB, 16 * MiB
    expected = ContentHasher()
    with EmulatorProcess(apps=[("clikey", "clisecret")]) as server:
        store = sdk(server.base_url, link(server.base_url, "store@example.com")["access_token"])
        buyer = sdk(server.base_url, link(server.base_url, "buyer@example.com")["access_token"])
        with RssSampler(server.pid) as memory:
            pieces = _chunks(total, chunk)
            first = next(pieces)
            expected.update(first)
            session_id = store.files_upload_session_start(first).session_id
            offset = len(first)
            for piece in pieces:
                expected.update(piece)
                store.files_upload_session_append_v2(piece, UploadSessionCursor(session_id,
                                                                                offset))
                offset += len(piece)
            metadata = store.files_upload_session_finish(
                b"", UploadSessionCursor(session_id, offset), CommitInfo("/big/album.zip"))
            reference = store.files_copy_reference_get("/big/album.zip").copy_reference
            buyer.files_copy_reference_save(reference, "/album.zip")
            _, response = buyer.files_download("/album.zip")
            downloaded = ContentHasher()
            for block in response.iter_content(MiB):
                downloaded.update(block)
            response.close()
        assert metadata.size == total
        assert metadata.content_hash == expected.hexdigest() == downloaded.hexdigest()
        stats = requests.get(f"{server.base_url}/__emulator__/stats", timeout=10).json()
        assert stats["accounts"]["store@example.com"]["bytes_uploaded"] == total
        assert stats["accounts"]["buyer@example.com"]["bytes_uploaded"] == 0
        # One 16 MiB chunk in flight is fine; holding the file would be 200 MiB.
        assert memory.peak - memory.before < 64 * MiB, (memory.before, memory.peak)
        store._session.close()
        buyer._session.close()
