"""Connect: Express accounts, Account Links and the hosted onboarding page, Connect webhook
endpoints (``connect=true``) and the ``Stripe-Account`` header, through the official SDK."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from emulator_common import ServerThread

from .conftest import Control, Idle, Receiver

ACCOUNT_FIELDS = set("""business_profile business_type capabilities charges_enabled controller
country created default_currency details_submitted email external_accounts future_requirements
id metadata object payouts_enabled requirements settings tos_acceptance type""".split())
RETURN_URL = "http://shop.test/artists/statement/abc/stripe/return"
REFRESH_URL = "http://shop.test/artists/statement/abc/stripe/refresh"


def new_account(client: stripe.StripeClient, **overrides: Any) -> stripe.Account:
    params: dict[str, Any] = {"type": "express", "country": "US",
                              "email": "artist@example.com",
                              "capabilities": {"transfers": {"requested": True}},
                              "metadata": {"artist_id": "7"}}
    params.update(overrides)
    return client.v1.accounts.create(params=params)  # type: ignore[arg-type]


def new_link(client: stripe.StripeClient, account: stripe.Account) -> stripe.AccountLink:
    return client.v1.account_links.create(params={
        "account": account.id, "type": "account_onboarding", "refresh_url": REFRESH_URL,
        "return_url": RETURN_URL})


def test_an_express_account_starts_with_onboarding_due(client: stripe.StripeClient) -> None:
    account = new_account(client)
    assert account.id.startswith("acct_") and account.object == "account"
    assert account.type == "express" and account.country == "US"
    assert account.default_currency == "usd" and account.email == "artist@example.com"
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        False, False, False)
    assert account.capabilities.transfers == "inactive"
    assert "external_account" in account.requirements.currently_due
    assert account.requirements.disabled_reason == "requirements.past_due"
    assert account.controller.stripe_dashboard.type == "express"
    assert account.metadata.to_dict() == {"artist_id": "7"}
    body = client.raw_request("get", f"/v1/accounts/{account.id}")
    assert set(client.deserialize(body, api_mode="V1").to_dict()) == ACCOUNT_FIELDS
    fetched = client.v1.accounts.retrieve(account.id)
    assert fetched.id == account.id and fetched.created == account.created
    second = new_account(client, country="DE", email="other@example.com")
    assert second.default_currency == "eur"
    assert [a.id for a in client.v1.accounts.list().data] == [second.id, account.id]
    assert [a.id for a in client.v1.accounts.list(params={"limit": 1}).data] == [second.id]
    updated = client.v1.accounts.update(account.id, params={"metadata": {"artist_id": "8"}})
    assert updated.metadata.to_dict() == {"artist_id": "8"}


@pytest.mark.parametrize(("params", "param"), [
    ({"country": "US"}, "type"),
    ({"type": "standard"}, "type"),
    ({"type": "express", "capabilities": {"transfers": {"requested": "maybe"}}},
     "capabilities[transfers][requested]"),
    ({"type": "express", "business_type": "band"}, "business_type"),
    ({"type": "express", "colour": "red"}, "colour"),
])
def test_account_param_errors(client: stripe.StripeClient, params: dict[str, Any],
                              param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.accounts.create(params=params)  # type: ignore[arg-type]
    assert caught.value.http_status == 400 and caught.value.param == param


def test_unknown_account_is_a_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.accounts.retrieve("acct_nosuchaccount")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as link:
        client.v1.account_links.create(params={
            "account": "acct_nosuchaccount", "type": "account_onboarding",
            "refresh_url": REFRESH_URL, "return_url": RETURN_URL})
    assert link.value.http_status == 404 and link.value.param == "account"


def test_account_link_shape_and_errors(client: stripe.StripeClient,
                                       server: ServerThread) -> None:
    account = new_account(client)
    link = new_link(client, account)
    assert link.object == "account_link"
    assert link.url.startswith(f"{server.base_url}/setup/e/{account.id}/")
    assert link.expires_at - link.created == 300
    assert set(link.to_dict()) == {"object", "created", "expires_at", "url"}
    for missing in ("refresh_url", "return_url", "type"):
        params = {"account": account.id, "type": "account_onboarding",
                  "refresh_url": REFRESH_URL, "return_url": RETURN_URL}
        del params[missing]
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.account_links.create(params=params)  # type: ignore[arg-type]
        assert caught.value.param == missing and caught.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as update:
        client.v1.account_links.create(params={
            "account": account.id, "type": "account_update", "refresh_url": REFRESH_URL,
            "return_url": RETURN_URL})
    assert update.value.param == "type"


def test_completing_onboarding_enables_the_account_and_returns(
        client: stripe.StripeClient, web: requests.Session) -> None:
    account = new_account(client)
    link = new_link(client, account)
    page = web.get(link.url, timeout=10)
    assert page.status_code == 200 and "Complete onboarding" in page.text
    assert account.id in page.text and "Leave" in page.text
    assert "script" not in page.headers["Content-Security-Policy"].replace("'none'", "")
    done = web.post(link.url, data={"action": "complete"}, allow_redirects=False, timeout=10)
    assert done.status_code == 303 and done.headers["Location"] == RETURN_URL
    after = client.v1.accounts.retrieve(account.id)
    assert (after.charges_enabled, after.payouts_enabled, after.details_submitted) == (
        True, True, True)
    assert after.capabilities.transfers == "active"
    assert after.requirements.currently_due == [] and after.requirements.disabled_reason is None
    again = web.post(link.url, data={"action": "complete"}, allow_redirects=False, timeout=10)
    assert again.status_code == 410 and "already been used" in again.text
    assert REFRESH_URL in again.text


def test_leaving_or_saving_for_later_changes_nothing(client: stripe.StripeClient,
                                                     web: requests.Session) -> None:
    account = new_account(client)
    left = web.post(new_link(client, account).url, data={"action": "leave"},
                    allow_redirects=False, timeout=10)
    assert left.status_code == 303 and left.headers["Location"] == REFRESH_URL
    later = web.post(new_link(client, account).url, data={"action": "later"},
                     allow_redirects=False, timeout=10)
    assert later.status_code == 303 and later.headers["Location"] == RETURN_URL
    unchanged = client.v1.accounts.retrieve(account.id)
    assert unchanged.details_submitted is False and unchanged.capabilities.transfers == "inactive"
    bogus = web.post(new_link(client, account).url, data={"action": "hack"},
                     allow_redirects=False, timeout=10)
    assert bogus.status_code == 400


def test_a_link_is_single_use_and_expires(client: stripe.StripeClient, web: requests.Session,
                                          control: Control) -> None:
    account = new_account(client)
    link = new_link(client, account)
    assert web.get(link.url, timeout=10).status_code == 200
    reloaded = web.get(link.url, timeout=10)                   # a reload or a link preview
    assert reloaded.status_code == 410 and "already been used" in reloaded.text
    assert web.post(link.url, data={"action": "complete"}, allow_redirects=False,
                    timeout=10).status_code == 410
    assert client.v1.accounts.retrieve(account.id).details_submitted is False
    stale = new_link(client, account)
    control("POST", "/clock/advance", {"seconds": 301})
    expired = web.get(stale.url, timeout=10)
    assert expired.status_code == 410 and "expired" in expired.text
    assert web.post(stale.url, data={"action": "complete"}, allow_redirects=False,
                    timeout=10).status_code == 410
    other = new_account(client)
    wrong = web.get(stale.url.replace(account.id, other.id), timeout=10)
    assert wrong.status_code == 404


def test_account_updated_goes_only_to_connect_endpoints(
        client: stripe.StripeClient, web: requests.Session, receiver: Receiver, idle: Idle,
        control: Control) -> None:
    platform = client.v1.webhook_endpoints.create(params={
        "url": receiver.url + "?platform", "enabled_events": ["*"]})
    connect = client.v1.webhook_endpoints.create(params={
        "url": receiver.url + "?connect", "enabled_events": ["account.updated"],
        "connect": True})
    account = new_account(client)
    web.post(new_link(client, account).url, data={"action": "complete"},
             allow_redirects=False, timeout=10)
    idle()
    received = receiver.wait_for(1)
    assert [item.path.rsplit("?", 1)[1] for item in received] == ["connect"]
    event = stripe.Webhook.construct_event(received[0].body.decode(),
                                           received[0].headers["Stripe-Signature"],
                                           connect.secret)
    assert event.type == "account.updated" and event.account == account.id
    assert event.data.object.id == account.id
    assert event.data.object.capabilities.transfers == "active"
    assert event.data.previous_attributes.details_submitted is False
    # The platform's own events do not reach the Connect endpoint, nor carry an account.
    client.v1.webhook_endpoints.update(platform.id, params={"description": "store"})
    transfer_free = new_account(client)
    control("POST", f"/accounts/{transfer_free.id}/restrict")
    idle()
    assert all(item.event.get("account") for item in receiver.received)
    # Stored Connect events are the account's: listed with Stripe-Account, not without.
    assert client.v1.events.list(params={"type": "account.updated"}).data == []
    mine = client.v1.events.list(params={"type": "account.updated"},
                                 options={"stripe_account": account.id}).data
    assert [e.id for e in mine] == [event.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(event.id)
    assert client.v1.events.retrieve(event.id, options={"stripe_account": account.id}).account == (
        account.id)


def test_configured_connect_endpoint_and_control_onboarding(
        app: Any, server: ServerThread, client: stripe.StripeClient, receiver: Receiver,
        idle: Idle, control: Control) -> None:
    control("POST", "/webhook_endpoints", {"url": receiver.url, "secret": "whsec_connect",
                                          "connect": True})
    account = new_account(client)
    onboarded = control("POST", f"/accounts/{account.id}/onboard")
    assert onboarded["payouts_enabled"] is True
    idle()
    [item] = receiver.wait_for(1)
    event = stripe.Webhook.construct_event(item.body.decode(), item.headers["Stripe-Signature"],
                                           "whsec_connect")
    assert event.account == account.id and event.type == "account.updated"
    restricted = control("POST", f"/accounts/{account.id}/restrict")
    assert restricted["payouts_enabled"] is False
    assert restricted["capabilities"]["transfers"] == "inactive"
    idle()
    assert [i.event["data"]["object"]["payouts_enabled"] for i in receiver.wait_for(2)] == [
        True, False]


def test_stripe_account_header_acts_as_the_connected_account(
        client: stripe.StripeClient) -> None:
    account = new_account(client)
    other = new_account(client)
    acting = {"stripe_account": account.id}
    me = client.v1.accounts.retrieve(account.id, options=acting)
    assert me.id == account.id
    with pytest.raises(stripe.PermissionError):
        client.v1.accounts.retrieve(other.id, options=acting)
    own = client.raw_request("get", "/v1/account", stripe_account=account.id)
    assert client.deserialize(own, api_mode="V1").id == account.id
    platform = client.deserialize(client.raw_request("get", "/v1/account"), api_mode="V1")
    assert platform.id != account.id and platform.type == "standard"
    balance = client.v1.balance.retrieve(options=acting)
    assert balance.object == "balance"
    assert [(b.amount, b.currency) for b in balance.available] == [(0, "usd")]
    assert client.v1.balance_transactions.list(options=acting).data == []
    assert client.v1.accounts.list(options=acting).data == []
    with pytest.raises(stripe.PermissionError) as unknown:
        client.v1.balance.retrieve(options={"stripe_account": "acct_nosuchaccount"})
    assert unknown.value.http_status == 403
    assert unknown.value.json_body["error"]["code"] == "account_invalid"
    with pytest.raises(stripe.InvalidRequestError) as write:
        client.v1.refunds.create(params={"charge": "ch_x"}, options=acting)
    assert "connected account" in str(write.value.user_message)
