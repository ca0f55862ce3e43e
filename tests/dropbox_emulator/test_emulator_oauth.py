"""OAuth 2 with the SDK's own flows: authorize page, code exchange, refresh, revoke, scopes."""

from __future__ import annotations

import datetime
import html.parser
from urllib.parse import parse_qs, urlsplit

import dropbox
import pytest
import requests
from dropbox.exceptions import AuthError
from dropbox.oauth import CsrfException, NotApprovedException


def naive_utcnow() -> datetime.datetime:
    """The SDK compares expirations as naive UTC datetimes."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


SCOPES = ["account_info.read", "files.metadata.read", "files.content.write"]


class _FormReader(html.parser.HTMLParser):
    """Collects a page's form action and input values, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("type") == "hidden":
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "button":
            self.buttons.append((values.get("name", ""), values.get("value", "")))


def sign_in(session: requests.Session, authorize_url: str, email: str, decision: str
            ) -> requests.Response:
    """Open the authorize page, fill in the email, press a button; returns the raw answer."""
    page = session.get(authorize_url)
    assert page.status_code == 200, page.text
    assert "<script" not in page.text
    form = _FormReader()
    form.feed(page.text)
    assert ("decision", "allow") in form.buttons and ("decision", "deny") in form.buttons
    target = urlsplit(authorize_url)
    action = f"{target.scheme}://{target.netloc}{form.action}"
    return session.post(action, data={**form.fields, "email": email, "decision": decision},
                        allow_redirects=False)


def callback_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@pytest.fixture
def make_flow(transport, names):
    def make(web_session: dict, secret: str | None = None, redirect_uri: str | None = None,
             **kwargs):
        kwargs.setdefault("token_access_type", "offline")
        kwargs.setdefault("scope", SCOPES)
        flow = dropbox.DropboxOAuth2Flow(
            names.app_key, redirect_uri or names.redirect_uri, web_session,
            "dropbox-auth-csrf-token", consumer_secret=secret or names.app_secret, **kwargs)
        flow.requests_session = transport.session
        return flow

    return make


def test_allow_links_account_and_returns_tokens(make_flow, transport, sdk_client, names):
    web_session: dict = {}
    flow = make_flow(web_session)
    answer = sign_in(transport.session, flow.start(url_state="order-7"), "buyer@example.com",
                     "allow")
    params = callback_params(answer)
    assert answer.headers["Location"].startswith(names.redirect_uri + "?")
    result = flow.finish(params)
    assert result.url_state == "order-7"
    assert result.refresh_token
    assert result.scope.split() == SCOPES
    assert result.user_id.isdigit()
    assert result.expires_at > naive_utcnow() + datetime.timedelta(hours=3, minutes=59)
    account = sdk_client(result.access_token).users_get_current_account()
    assert account.email == "buyer@example.com"
    assert account.account_id == result.account_id


def test_deny_raises_not_approved(make_flow, transport):
    web_session: dict = {}
    flow = make_flow(web_session)
    params = callback_params(sign_in(transport.session, flow.start(), "a@example.com", "deny"))
    assert params["error"] == "access_denied"
    assert params["error_description"]
    with pytest.raises(NotApprovedException):
        flow.finish(params)


def test_bad_state_raises_csrf(make_flow, transport):
    web_session: dict = {}
    flow = make_flow(web_session)
    params = callback_params(sign_in(transport.session, flow.start(), "a@example.com", "allow"))
    params["state"] = "X" * 24
    with pytest.raises(CsrfException):
        flow.finish(params)


def test_reused_code_is_http_error(make_flow, transport):
    web_session: dict = {}
    flow = make_flow(web_session)
    params = callback_params(sign_in(transport.session, flow.start(), "a@example.com", "allow"))
    csrf = web_session["dropbox-auth-csrf-token"]
    flow.finish(params)
    web_session["dropbox-auth-csrf-token"] = csrf
    with pytest.raises(requests.HTTPError):
        flow.finish(params)


def test_wrong_secret_is_http_error(make_flow, transport):
    web_session: dict = {}
    flow = make_flow(web_session, secret="wrong")
    params = callback_params(sign_in(transport.session, flow.start(), "a@example.com", "allow"))
    with pytest.raises(requests.HTTPError):
        flow.finish(params)


def test_redirect_uri_mismatch_is_http_error(make_flow, transport):
    web_session: dict = {}
    params = callback_params(sign_in(transport.session, make_flow(web_session).start(),
                                     "a@example.com", "allow"))
    other = make_flow(web_session, redirect_uri="http://localhost:5000/elsewhere")
    with pytest.raises(requests.HTTPError):
        other.finish(params)


def test_expired_code_is_http_error(make_flow, transport):
    transport.control("POST", "/settings", json={"code_ttl": 0})
    web_session: dict = {}
    flow = make_flow(web_session)
    params = callback_params(sign_in(transport.session, flow.start(), "a@example.com", "allow"))
    with pytest.raises(requests.HTTPError):
        flow.finish(params)


def test_unknown_client_or_unregistered_redirect_is_an_error_page(transport, names):
    url = "https://www.dropbox.com/oauth2/authorize"
    unknown = transport.session.get(url, params={"response_type": "code", "client_id": "nope",
                                                 "redirect_uri": names.redirect_uri})
    assert unknown.status_code == 400 and "client_id" in unknown.text
    registered = transport.control("POST", "/apps", json={
        "key": "strict", "secret": "s", "redirect_uris": ["https://shop.example/cb"]})
    assert registered.status_code == 200
    wrong = transport.session.get(url, params={"response_type": "code", "client_id": "strict",
                                               "redirect_uri": names.redirect_uri})
    assert wrong.status_code == 400 and "redirect_uri" in wrong.text
    right = transport.session.get(url, params={"response_type": "code", "client_id": "strict",
                                               "redirect_uri": "https://shop.example/cb"})
    assert right.status_code == 200


def test_authorize_page_escapes_parameters(transport, names):
    evil = '"><script>alert(1)</script>'
    page = transport.session.get("https://www.dropbox.com/oauth2/authorize", params={
        "response_type": "code", "client_id": names.app_key,
        "redirect_uri": names.redirect_uri, "state": evil})
    assert page.status_code == 200
    assert "<script>" not in page.text


def test_no_redirect_flow_with_pkce_and_refresh_without_secret(transport, sdk_client, names):
    flow = dropbox.DropboxOAuth2FlowNoRedirect(names.app_key, use_pkce=True,
                                               token_access_type="offline")
    flow.requests_session = transport.session
    page = sign_in(transport.session, flow.start(), "pkce@example.com", "allow")
    assert page.status_code == 200
    code = page.text.split('<code id="code">')[1].split("</code>")[0]
    result = flow.finish(code)
    dbx = sdk_client(oauth2_refresh_token=result.refresh_token, app_key=names.app_key)
    assert dbx.users_get_current_account().email == "pkce@example.com"


def test_expired_access_token_is_refreshed_automatically(link, sdk_client, transport, names):
    tokens = link(names.store_email)
    dbx = sdk_client(tokens["access_token"], oauth2_refresh_token=tokens["refresh_token"],
                 oauth2_access_token_expiration=naive_utcnow()
                 + datetime.timedelta(hours=4),
                 app_key=names.app_key, app_secret=names.app_secret)
    dbx.users_get_current_account()
    expired = transport.control("POST", "/tokens/expire",
                                json={"access_token": tokens["access_token"]})
    assert expired.json() == {"expired": 1}
    transport.control("DELETE", "/stats")
    assert dbx.users_get_current_account().email == names.store_email
    calls = transport.control("GET", "/stats").json()["calls"]
    assert calls == {"users/get_current_account": 2, "oauth2/token": 1}


def test_expired_token_without_refresh_token_is_auth_error(link, sdk_client, transport, names):
    tokens = link(names.store_email)
    transport.control("POST", "/tokens/expire", json={"email": names.store_email})
    with pytest.raises(AuthError) as caught:
        sdk_client(tokens["access_token"]).users_get_current_account()
    assert caught.value.error.is_expired_access_token()


def test_short_token_ttl_expires(emulator_app, transport, sdk_client, link, names):
    emulator_app.extensions["dropbox_emulator"].settings.token_ttl = 0
    tokens = link(names.store_email)
    assert tokens["expires_at"]
    with pytest.raises(AuthError) as caught:
        sdk_client(tokens["access_token"]).users_get_current_account()
    assert caught.value.error.is_expired_access_token()


def test_refresh_token_only_client_refreshes_first(link, sdk_client, names):
    tokens = link(names.store_email)
    dbx = sdk_client(oauth2_refresh_token=tokens["refresh_token"], app_key=names.app_key,
                 app_secret=names.app_secret)
    assert dbx.users_get_current_account().email == names.store_email


def test_token_endpoint_json_and_basic_auth(transport, link, names):
    tokens = link(names.store_email)
    response = transport.session.post(
        "https://api.dropboxapi.com/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(names.app_key, names.app_secret))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 14_400
    bad = transport.session.post(
        "https://api.dropboxapi.com/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
              "client_id": names.app_key})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"


def test_revoke_kills_access_and_refresh_tokens(link, sdk_client, names):
    tokens = link(names.store_email)
    dbx = sdk_client(tokens["access_token"])
    assert dbx.auth_token_revoke() is None
    with pytest.raises(AuthError) as caught:
        dbx.users_get_current_account()
    assert caught.value.error.is_invalid_access_token()
    refreshing = sdk_client(oauth2_refresh_token=tokens["refresh_token"], app_key=names.app_key,
                        app_secret=names.app_secret)
    with pytest.raises(AuthError) as refresh_failed:
        refreshing.users_get_current_account()
    assert refresh_failed.value.error.is_invalid_access_token()


def test_missing_scope(link, sdk_client, names):
    dbx = sdk_client(link(names.store_email, scopes=["files.metadata.read"])["access_token"])
    assert dbx.files_list_folder("").entries == []
    with pytest.raises(AuthError) as write:
        dbx.files_upload(b"x", "/x.txt")
    assert write.value.error.is_missing_scope()
    assert write.value.error.get_missing_scope().required_scope == "files.content.write"
    with pytest.raises(AuthError) as account:
        dbx.users_get_current_account()
    assert account.value.error.get_missing_scope().required_scope == "account_info.read"
    with pytest.raises(AuthError) as download:
        dbx.files_download("/x.txt")
    assert download.value.error.get_missing_scope().required_scope == "files.content.read"


def test_scopes_requested_in_flow_are_enforced(make_flow, transport, sdk_client):
    web_session: dict = {}
    flow = make_flow(web_session, scope=["files.metadata.read"])
    result = flow.finish(callback_params(sign_in(transport.session, flow.start(),
                                                 "narrow@example.com", "allow")))
    assert result.scope == "files.metadata.read"
    with pytest.raises(AuthError) as caught:
        sdk_client(result.access_token).files_create_folder_v2("/x")
    assert caught.value.error.is_missing_scope()


def test_include_granted_scopes_adds_earlier_grants(make_flow, transport):
    first: dict = {}
    flow = make_flow(first, scope=["files.metadata.read"])
    flow.finish(callback_params(sign_in(transport.session, flow.start(), "g@example.com",
                                        "allow")))
    second: dict = {}
    more = make_flow(second, scope=["files.content.read"], include_granted_scopes="user")
    result = more.finish(callback_params(sign_in(transport.session, more.start(),
                                                 "g@example.com", "allow")))
    assert set(result.scope.split()) == {"files.metadata.read", "files.content.read"}


def test_online_flow_has_no_refresh_token(make_flow, transport):
    web_session: dict = {}
    flow = make_flow(web_session, token_access_type="online")
    result = flow.finish(callback_params(sign_in(transport.session, flow.start(),
                                                 "o@example.com", "allow")))
    assert result.refresh_token == ""
