"""Wire-level facts the SDK depends on: content types, envelopes, ids, request ids."""

from __future__ import annotations

import json
import re

import dropbox
import pytest
from dropbox.exceptions import ApiError, AuthError, BadInputError

API = "https://api.dropboxapi.com/2"
CONTENT = "https://content.dropboxapi.com/2"


def test_json_responses_have_exact_content_type_and_request_id(transport, store_dbx, link, names):
    token = link(names.store_email)["access_token"]
    response = transport.session.post(f"{API}/users/get_current_account", data="null",
                                      headers={"Authorization": f"Bearer {token}",
                                               "Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Dropbox-Request-Id"])


def test_void_result_is_null_body(transport, store_dbx, link, names):
    token = link(names.store_email)["access_token"]
    start = transport.session.post(
        f"{CONTENT}/files/upload_session/start", data=b"12345",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                 "Dropbox-API-Arg": json.dumps({"close": False})})
    session_id = start.json()["session_id"]
    assert session_id.startswith("pid_upload_session:")
    append = transport.session.post(
        f"{CONTENT}/files/upload_session/append_v2", data=b"678",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
                 "Dropbox-API-Arg": json.dumps({"cursor": {"session_id": session_id,
                                                           "offset": 5}})})
    assert append.status_code == 200
    assert append.content == b"null"
    assert append.headers["Content-Type"] == "application/json"


def test_account_and_file_id_formats(store_dbx):
    account = store_dbx.users_get_current_account()
    assert len(account.account_id) == 40 and account.account_id.startswith("dbid:")
    assert account.root_info.root_namespace_id.isdigit()
    metadata = store_dbx.files_upload(b"x", "/a.txt")
    assert re.fullmatch(r"id:[A-Za-z0-9_-]{22}", metadata.id)
    assert re.fullmatch(r"[0-9a-f]{9,}", metadata.rev)
    assert metadata.server_modified.microsecond == 0


def test_uid_is_numeric_and_matches_account(link, names, store_dbx):
    tokens = link(names.store_email)
    assert tokens["uid"].isdigit()
    assert tokens["account_id"] == store_dbx.users_get_current_account().account_id


def test_missing_authorization_is_400_text(transport):
    response = transport.session.post(f"{API}/users/get_current_account", data="null",
                                      headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text.startswith('Error in call to API function "users/get_current_account"')
    assert response.headers["X-Dropbox-Request-Id"]


def test_malformed_token_is_bad_input_and_unknown_token_is_auth_error(sdk_client):
    with pytest.raises(BadInputError, match="malformed") as malformed:
        sdk_client("not a token!").users_get_current_account()
    assert malformed.value.request_id
    with pytest.raises(AuthError) as unknown:
        sdk_client("sl.unknown-token").users_get_current_account()
    assert unknown.value.error.is_invalid_access_token()


def test_wrong_content_type_for_upload_is_400_text(transport, link, names):
    token = link(names.store_email)["access_token"]
    response = transport.session.post(
        f"{CONTENT}/files/upload", data=b"abc",
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": "application/json; charset=UTF-8",
                 "Dropbox-API-Arg": json.dumps({"path": "/a"})})
    assert response.status_code == 400
    assert 'Bad HTTP "Content-Type" header' in response.text
    assert "application/octet-stream" in response.text


def test_content_routes_accept_arg_query_parameter(transport, link, names, store_dbx):
    store_dbx.files_upload(b"abc", "/q.txt")
    token = link(names.store_email)["access_token"]
    response = transport.session.post(f"{CONTENT}/files/download",
                                      params={"arg": json.dumps({"path": "/q.txt"})},
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.content == b"abc"


def test_upload_without_arg_is_400(transport, link, names):
    token = link(names.store_email)["access_token"]
    response = transport.session.post(
        f"{CONTENT}/files/upload", data=b"abc",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})
    assert response.status_code == 400
    assert "Dropbox-API-Arg" in response.text


def test_unknown_route_is_bad_input(store_dbx):
    with pytest.raises(BadInputError, match="Unknown API function"):
        store_dbx.files_get_temporary_link("/a.txt")


def test_download_result_header_is_ascii_json(transport, link, names, store_dbx):
    store_dbx.files_upload(b"\xff", "/Björk – ☃.mp3")
    token = link(names.store_email)["access_token"]
    response = transport.session.post(
        f"{CONTENT}/files/download",
        headers={"Authorization": f"Bearer {token}",
                 "Dropbox-API-Arg": json.dumps({"path": "/Björk – ☃.mp3"})})
    header = response.headers["Dropbox-API-Result"]
    assert header.isascii() and "\\u00f6" in header
    assert json.loads(header)["name"] == "Björk – ☃.mp3"
    metadata, body = store_dbx.files_download("/BJÖRK – ☃.MP3")
    assert metadata.path_display == "/Björk – ☃.mp3"
    assert body.content == b"\xff"


def test_409_envelope_has_summary_and_error(transport, link, names):
    token = link(names.store_email)["access_token"]
    response = transport.session.post(
        f"{API}/files/get_metadata", data=json.dumps({"path": "/nope"}),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error_summary"].startswith("path/not_found/")
    assert body["error"] == {".tag": "path", "path": {".tag": "not_found"}}


def test_void_union_shorthand_is_accepted(transport, link, names):
    token = link(names.store_email)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    first = transport.session.post(f"{CONTENT}/files/upload", data=b"one", headers={
        **headers, "Dropbox-API-Arg": json.dumps({"path": "/s.txt", "mode": "add"})})
    assert first.status_code == 200
    second = transport.session.post(f"{CONTENT}/files/upload", data=b"two", headers={
        **headers, "Dropbox-API-Arg": json.dumps({"path": "/s.txt", "mode": "overwrite"})})
    assert second.status_code == 200 and second.json()["size"] == 3


def test_api_error_carries_request_id(store_dbx):
    with pytest.raises(ApiError) as caught:
        store_dbx.files_get_metadata("/missing")
    assert caught.value.request_id
    assert isinstance(caught.value.error, dropbox.files.GetMetadataError)
