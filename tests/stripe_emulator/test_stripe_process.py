"""``python -m stripe_emulator`` as a real process: first line, a pre-registered webhook with
a known secret, and ``--data-dir`` keeping sessions and charges across a restart."""

from __future__ import annotations

import re
from pathlib import Path

import requests
import stripe

from emulator_common import EmulatorProcess

from .conftest import Receiver, session_params

SECRET = "whsec_make_run_known_secret"


def sdk(base_url: str, session: requests.Session) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_cli", base_addresses={"api": base_url},
                               max_network_retries=0,
                               http_client=stripe.RequestsClient(session=session))


def test_process_announces_url_delivers_and_persists(tmp_path: Path, receiver: Receiver,
                                                     web: requests.Session) -> None:
    args = ["--data-dir", str(tmp_path), "--api-key", "sk_test_cli",
            "--webhook", receiver.url, "--webhook-secret", SECRET, "--retry-base-delay", "0.05"]
    with EmulatorProcess("stripe_emulator", args) as first:
        assert re.fullmatch(r"stripe_emulator listening on http://127\.0\.0\.1:\d+\n",
                            first.first_line)
        assert first.readline() == f"webhook {receiver.url} secret {SECRET}\n"
        client = sdk(first.base_url, web)
        session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
        assert session.url.startswith(first.base_url + "/c/pay/")
        paid = web.post(session.url, data={"cardnumber": "4242424242424242"},
                        allow_redirects=False, timeout=10)
        assert paid.status_code == 303
        events = [stripe.Webhook.construct_event(item.body.decode(),
                                                 item.headers["Stripe-Signature"], SECRET)
                  for item in receiver.wait_for(4)]
        assert events[-1].type == "checkout.session.completed"
        intent_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    assert (tmp_path / "state.json").exists()
    with EmulatorProcess("stripe_emulator", args) as second:
        assert second.readline() == f"webhook {receiver.url} secret {SECRET}\n"
        client = sdk(second.base_url, web)
        again = client.v1.checkout.sessions.retrieve(session.id,
                                                     params={"expand": ["payment_intent"]})
        assert again.payment_status == "paid" and again.payment_intent.id == intent_id
        assert client.v1.charges.retrieve(again.payment_intent.latest_charge).paid is True
        assert client.v1.events.retrieve(events[0].id).type == events[0].type
        assert len(client.v1.webhook_endpoints.list().data) == 1
        refused = web.get(f"{second.base_url}/v1/events",
                          headers={"Authorization": "Bearer sk_test_other"}, timeout=10)
        assert refused.status_code == 401


CONNECT_SECRET = "whsec_make_run_connect_secret"


def test_process_with_a_connect_webhook_and_funds_available_at_once(
        tmp_path: Path, receiver: Receiver, web: requests.Session) -> None:
    connect_url = receiver.url.replace("/webhook", "/connect-webhook")
    args = ["--data-dir", str(tmp_path), "--webhook", receiver.url, "--webhook-secret", SECRET,
            "--connect-webhook", connect_url, "--connect-webhook-secret", CONNECT_SECRET,
            "--funds-pending", "0"]
    with EmulatorProcess("stripe_emulator", args) as running:
        # One line per endpoint, in the order the emulator keeps them (not promised).
        assert {running.readline(), running.readline()} == {
            f"webhook {receiver.url} secret {SECRET}\n", f"connect webhook {connect_url} secret {CONNECT_SECRET}\n"}
        client = sdk(running.base_url, web)
        session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
        web.post(session.url, data={"cardnumber": "4242424242424242"}, allow_redirects=False,
                 timeout=10)
        account = client.v1.accounts.create(params={
            "type": "express", "capabilities": {"transfers": {"requested": True}}})
        link = client.v1.account_links.create(params={
            "account": account.id, "type": "account_onboarding",
            "refresh_url": "http://shop.test/refresh", "return_url": "http://shop.test/return"})
        assert link.url.startswith(running.base_url + "/setup/e/")
        done = web.post(link.url, data={"action": "complete"}, allow_redirects=False,
                        timeout=10)
        assert done.headers["Location"] == "http://shop.test/return"
        transfer = client.v1.transfers.create(params={"amount": 1000, "currency": "eur",
                                                      "destination": account.id})
        received = receiver.wait_for(6)
        connect = [item for item in received if item.path.endswith("/connect-webhook")]
        assert len(connect) == 1
        event = stripe.Webhook.construct_event(connect[0].body.decode(),
                                               connect[0].headers["Stripe-Signature"],
                                               CONNECT_SECRET)
        assert event.type == "account.updated" and event.account == account.id
    with EmulatorProcess("stripe_emulator", args) as second:
        assert sorted(line.split(" http")[0] for line in (second.readline(), second.readline())) == [
            "connect webhook", "webhook"]
        client = sdk(second.base_url, web)
        assert len(client.v1.webhook_endpoints.list().data) == 2
        assert client.v1.transfers.retrieve(transfer.id).destination == account.id
        assert client.v1.accounts.retrieve(account.id).payouts_enabled is True
