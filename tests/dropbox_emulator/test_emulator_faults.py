"""Faults on demand and the SDK's reaction to them: 429s, 5xx, write limits, latency."""

from __future__ import annotations

import threading
import time

import pytest
from dropbox.exceptions import InternalServerError, RateLimitError


def arm(transport, **spec):
    response = transport.control("POST", "/faults", json=spec)
    assert response.status_code == 200, response.text
    return response.json()["faults"][0]


def test_too_many_requests_json_with_retry_after(transport, store_dbx):
    arm(transport, route="users/get_current_account", kind="too_many_requests", retry_after=7)
    with pytest.raises(RateLimitError) as caught:
        store_dbx.users_get_current_account()
    assert caught.value.backoff == 7
    assert caught.value.error.reason.is_too_many_requests()
    assert caught.value.error.retry_after == 7
    store_dbx.users_get_current_account()


def test_rate_limit_is_retried_by_the_sdk(transport, sdk_client, link, names):
    arm(transport, route="files/list_folder", kind="too_many_requests", retry_after=0, count=2)
    dbx = sdk_client(link(names.store_email)["access_token"], max_retries_on_rate_limit=2)
    assert dbx.files_list_folder("").entries == []
    stats = transport.control("GET", "/stats").json()
    assert stats["calls"]["files/list_folder"] == 3


def test_too_many_write_operations_has_no_retry_after(transport, store_dbx):
    arm(transport, route="files/upload", kind="too_many_write_operations")
    with pytest.raises(RateLimitError) as caught:
        store_dbx.files_upload(b"x", "/x.txt")
    assert caught.value.error.reason.is_too_many_write_operations()
    assert caught.value.backoff == 1  # the SDK's default when retry_after is absent


def test_plain_text_429_uses_retry_after_header(transport, store_dbx):
    arm(transport, route="files/get_metadata", kind="too_many_requests_text", retry_after=3)
    with pytest.raises(RateLimitError) as caught:
        store_dbx.files_get_metadata("/x")
    assert caught.value.error is None
    assert caught.value.backoff == 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(transport, store_dbx, status):
    arm(transport, route="files/list_folder", status=status)
    with pytest.raises(InternalServerError) as caught:
        store_dbx.files_list_folder("")
    assert caught.value.status_code == status
    store_dbx.files_list_folder("")


def test_server_error_is_retried_by_the_sdk(transport, sdk_client, link, names, monkeypatch):
    monkeypatch.setattr("dropbox.dropbox_client.random.random", lambda: 0.0)
    arm(transport, route="files/list_folder", kind="service_unavailable")
    dbx = sdk_client(link(names.store_email)["access_token"], max_retries_on_error=1)
    assert dbx.files_list_folder("").entries == []


def test_fault_on_token_refresh(transport, sdk_client, link, names, monkeypatch):
    monkeypatch.setattr("dropbox.dropbox_client.random.random", lambda: 0.0)
    tokens = link(names.store_email)
    arm(transport, route="oauth2/token", kind="internal_server_error")
    dbx = sdk_client(oauth2_refresh_token=tokens["refresh_token"], app_key=names.app_key,
                 app_secret=names.app_secret, max_retries_on_error=1)
    assert dbx.users_get_current_account().email == names.store_email


def test_fault_for_one_account_only(transport, store_dbx, buyer_dbx, names):
    arm(transport, email=names.buyer_email, kind="internal_server_error", count=2)
    store_dbx.files_list_folder("")
    for _ in range(2):
        with pytest.raises(InternalServerError):
            buyer_dbx.files_list_folder("")
    buyer_dbx.files_list_folder("")


def test_list_and_clear_faults(transport, store_dbx):
    arm(transport, kind="internal_server_error", count=5)
    listed = transport.control("GET", "/faults").json()["faults"]
    assert listed[0]["remaining"] == 5 and listed[0]["route"] == "*"
    assert transport.control("DELETE", "/faults").status_code == 200
    store_dbx.files_list_folder("")


def test_bad_fault_spec_is_400(transport):
    response = transport.control("POST", "/faults", json={"kind": "meteor"})
    assert response.status_code == 400 and "kind" in response.json()["error"]


def test_concurrent_writes_over_limit_get_too_many_write_operations(transport, sdk_client, link,
                                                                      names):
    transport.control("POST", "/settings", json={"max_concurrent_writes": 2})
    transport.control("POST", "/latency", json={"ms": 300, "route": "files/upload"})
    token = link(names.store_email)["access_token"]
    outcomes: list[object] = []

    def write(index: int) -> None:
        dbx = sdk_client(token)
        try:
            outcomes.append(dbx.files_upload(b"x%d" % index, f"/c/{index}.txt"))
        except RateLimitError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [o for o in outcomes if isinstance(o, RateLimitError)]
    assert len(refused) == 2
    assert all(o.error.reason.is_too_many_write_operations() for o in refused)
    # Another namespace is not affected, and the limit frees up afterwards.
    sdk_client(token).files_upload(b"later", "/c/later.txt")


def test_latency_is_added(transport, store_dbx):
    store_dbx.files_list_folder("")
    response = transport.control("POST", "/latency", json={"ms": 150})
    assert response.json()["ms"] == 150
    started = time.monotonic()
    store_dbx.files_list_folder("")
    assert time.monotonic() - started >= 0.15
    transport.control("POST", "/latency", json={"ms": 0})
