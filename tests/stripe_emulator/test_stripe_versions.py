"""Stripe-Version: unknown versions refused, the version echoed, objects and events shown in
the version asked for (Checkout Session ui_mode changed in 2026-03-25.dahlia)."""

from __future__ import annotations

import json

import pytest
import requests
import stripe

from emulator_common import ServerThread
from stripe_emulator.__main__ import build_parser, main

from .conftest import API_KEY, Idle, MakeClient, NewSession, Receiver, session_params

OLD = "2025-03-31.basil"
PINNED = "2026-10-28.endive"


def test_the_sdk_version_is_echoed(client: stripe.StripeClient, new_session: NewSession) -> None:
    session = new_session()
    assert session.last_response.headers["Stripe-Version"] == PINNED
    assert session.ui_mode == "hosted_page"


def test_unknown_versions_are_refused(server: ServerThread, web: requests.Session) -> None:
    for version in ("2099-01-01", "bogus", "2026-10-28.dahlia"):
        answer = web.get(f"{server.base_url}/v1/checkout/sessions", auth=(API_KEY, ""),
                         headers={"Stripe-Version": version}, timeout=10)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"] == f"Invalid Stripe API version: {version}"


def test_the_sdk_raises_for_an_unknown_version(make_client: MakeClient) -> None:
    client = make_client(stripe_version="2099-01-01")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.list()
    assert "Invalid Stripe API version" in str(caught.value)


def test_an_older_version_sees_the_older_shape(server: ServerThread, web: requests.Session,
                                               new_session: NewSession) -> None:
    session = new_session()
    answer = web.get(f"{server.base_url}/v1/checkout/sessions/{session.id}", auth=(API_KEY, ""),
                     headers={"Stripe-Version": OLD}, timeout=10)
    assert answer.headers["Stripe-Version"] == OLD
    assert answer.json()["ui_mode"] == "hosted"
    plain = web.get(f"{server.base_url}/v1/checkout/sessions/{session.id}", auth=(API_KEY, ""),
                    timeout=10)
    assert plain.headers["Stripe-Version"] == PINNED and plain.json()["ui_mode"] == "hosted_page"


def test_ui_mode_values_follow_the_request_version(make_client: MakeClient,
                                                   client: stripe.StripeClient) -> None:
    assert client.v1.checkout.sessions.create(
        params=session_params(ui_mode="hosted_page")).ui_mode == "hosted_page"  # type: ignore[arg-type]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=session_params(ui_mode="hosted"))  # type: ignore[arg-type]
    assert caught.value.param == "ui_mode"
    old = make_client(stripe_version=OLD)
    assert old.v1.checkout.sessions.create(
        params=session_params(ui_mode="hosted")).ui_mode == "hosted"  # type: ignore[arg-type]


def test_events_are_rendered_for_each_endpoint_version(
        client: stripe.StripeClient, new_session: NewSession, idle: Idle,
        receiver: Receiver) -> None:
    old = client.v1.webhook_endpoints.create(params={
        "url": receiver.url + "?old", "enabled_events": ["checkout.session.expired"],
        "api_version": OLD})
    assert old.api_version == OLD
    client.v1.webhook_endpoints.create(params={"url": receiver.url + "?pinned",
                                               "enabled_events": ["checkout.session.expired"]})
    session = new_session()
    client.v1.checkout.sessions.expire(session.id)
    idle()
    by_path = {item.path.split("?")[1]: item for item in receiver.received}
    old_event = json.loads(by_path["old"].body)
    pinned_event = json.loads(by_path["pinned"].body)
    assert old_event["id"] == pinned_event["id"]
    assert (old_event["api_version"], old_event["data"]["object"]["ui_mode"]) == (OLD, "hosted")
    assert (pinned_event["api_version"], pinned_event["data"]["object"]["ui_mode"]) == (
        PINNED, "hosted_page")
    stored = client.v1.events.retrieve(old_event["id"])
    assert stored.api_version == PINNED


def test_an_endpoint_with_an_unknown_version_is_refused(client: stripe.StripeClient,
                                                        receiver: Receiver) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"],
                                                   "api_version": "2099-01-01"})
    assert caught.value.param == "api_version"
    assert client.v1.webhook_endpoints.list().data == []


def test_the_account_version_flag_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["--api-version", OLD]).api_version == OLD
    with pytest.raises(SystemExit):
        main(["--api-version", "2099-01-01"])
    assert "not a Stripe API version" in capsys.readouterr().err
