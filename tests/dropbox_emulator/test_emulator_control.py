"""The control API under /__emulator__/ (the endpoints acceptance tooling relies on)."""

from __future__ import annotations

import pytest
from dropbox.exceptions import AuthError


def test_register_app_then_link_account(transport, sdk_client):
    created = transport.control("POST", "/apps", json={"key": "k2", "secret": "s2",
                                                       "name": "Demo"})
    assert created.status_code == 200 and created.json()["root"] == "/Apps/Demo"
    tokens = transport.control("POST", "/tokens", json={"app_key": "k2", "email": "d@e.com"})
    assert tokens.status_code == 200
    body = tokens.json()
    assert set(body) >= {"access_token", "refresh_token", "account_id"}
    account = sdk_client(body["access_token"]).users_get_current_account()
    assert account.account_id == body["account_id"]


def test_create_account_is_idempotent(transport):
    first = transport.control("POST", "/accounts", json={"email": "Same@Example.com"})
    second = transport.control("POST", "/accounts", json={"email": "same@example.com"})
    assert first.status_code == second.status_code == 200
    assert first.json()["account_id"] == second.json()["account_id"]
    assert len(first.json()["account_id"]) == 40
    listed = transport.control("GET", "/accounts").json()["accounts"]
    assert [a["account_id"] for a in listed].count(first.json()["account_id"]) == 1


def test_tokens_with_scopes(transport, sdk_client, names):
    body = transport.control("POST", "/tokens", json={
        "app_key": names.app_key, "email": "s@example.com", "scopes": ["files.metadata.read"]}
    ).json()
    with pytest.raises(AuthError):
        sdk_client(body["access_token"]).users_get_current_account()


def test_list_files_in_app_folder(transport, store_dbx, names):
    store_dbx.files_upload(b"abc", "/Albums/Blue/01.flac")
    store_dbx.files_upload(b"defg", "/top.txt")
    store_dbx.files_create_folder_v2("/Empty")
    response = transport.control("GET", f"/accounts/{names.store_email}/files",
                                 params={"app_key": names.app_key})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    items = sorted(response.json(), key=lambda item: item["path_display"])
    assert [(i["path_display"], i["size"]) for i in items] == [
        ("/Albums/Blue/01.flac", 3), ("/top.txt", 4)]
    assert all(len(i["content_hash"]) == 64 for i in items)


def test_control_errors(transport, names):
    assert transport.control("POST", "/apps", json={"key": "x"}).status_code == 400
    assert transport.control("POST", "/tokens", json={"app_key": "nope",
                                                      "email": "a@b.c"}).status_code == 404
    unknown = transport.control("GET", "/accounts/ghost@example.com/files",
                                params={"app_key": names.app_key})
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert transport.control("GET", f"/accounts/{names.store_email}/files").status_code in (
        400, 404)
    assert transport.control("POST", "/accounts", json={"email": "not-an-email"}
                             ).status_code == 400
    assert transport.control("POST", "/unlink", data="nope").status_code == 400


def test_stats_count_calls_and_uploaded_bytes(transport, store_dbx, buyer_dbx, names):
    transport.control("DELETE", "/stats")
    store_dbx.files_upload(b"12345", "/a.bin")
    start = store_dbx.files_upload_session_start(b"123")
    from dropbox.files import CommitInfo, UploadSessionCursor

    store_dbx.files_upload_session_finish(b"45", UploadSessionCursor(start.session_id, 3),
                                          CommitInfo("/b.bin"))
    buyer_dbx.files_list_folder("")
    stats = transport.control("GET", "/stats").json()
    store = stats["accounts"][names.store_email]
    assert store["bytes_uploaded"] == 10
    assert store["calls"] == {"files/upload": 1, "files/upload_session/start": 1,
                              "files/upload_session/finish": 1}
    assert stats["accounts"][names.buyer_email]["calls"] == {"files/list_folder": 1}
    assert stats["calls"]["files/list_folder"] == 1
    assert stats["bytes_uploaded_total"] == 10
    reset = transport.control("DELETE", "/stats").json()
    assert reset["calls"] == {} and reset["accounts"] == {}


def test_settings_roundtrip(transport):
    changed = transport.control("POST", "/settings", json={"max_concurrent_writes": 1,
                                                           "token_ttl": 60}).json()
    assert changed["max_concurrent_writes"] == 1 and changed["token_ttl"] == 60
    assert transport.control("POST", "/settings", json={"token_ttl": -1}).status_code == 400


def test_unlink_revokes_tokens(transport, link, sdk_client, names):
    tokens = link(names.buyer_email)
    response = transport.control("POST", "/unlink", json={"email": names.buyer_email,
                                                          "app_key": names.app_key})
    assert response.json()["revoked"] == 2
    with pytest.raises(AuthError) as caught:
        sdk_client(tokens["access_token"]).files_list_folder("")
    assert caught.value.error.is_invalid_access_token()
