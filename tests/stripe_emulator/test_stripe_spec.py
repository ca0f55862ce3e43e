"""Every kind of object the store uses, created through the official SDK against the emulator
and validated against Stripe's OpenAPI spec (``stripe/openapi`` ``spec3``, the component
schemas in ``../shared/reference/stripe-spec3-subset.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from emulator_common import ServerThread

from .conftest import API_KEY, Control, Idle, NewSession, Pay, Receiver
from .openapi import SPEC_PATH, Validator

pytestmark = pytest.mark.skipif(not SPEC_PATH.exists(),
                                reason=f"the spec subset is not at {SPEC_PATH}")

#: Schemas the answers reach that the subset does not hold, so they are not judged.
MISSING_FROM_SUBSET = {"balance_transaction", "payment_intent_next_action",
                       "payment_method_card", "three_d_secure_details_charge"}
#: The Connect objects' schemas, none of which the subset holds (so only the events about
#: them, and their ``account``, are judged).
CONNECT_SCHEMAS = {"account", "account_link", "balance", "transfer", "transfer_reversal"}

SCHEMA_OF_OBJECT = {"checkout.session": "checkout.session", "payment_intent": "payment_intent",
                    "charge": "charge", "refund": "refund", "dispute": "dispute",
                    "payment_method": "payment_method", "webhook_endpoint": "webhook_endpoint",
                    "event": "event", "item": "item",
                    "balance_transaction": "balance_transaction",
                    **{name: name for name in CONNECT_SCHEMAS}}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.load()


class Checked:
    """Fetches raw JSON through the SDK's client and validates it."""

    def __init__(self, client: stripe.StripeClient, validator: Validator) -> None:
        self.client = client
        self.validator = validator
        self.seen: dict[str, int] = {}

    def raw(self, method: str, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.raw_request(method, path, **params)
        body: dict[str, Any] = json.loads(response.body)
        return body

    def check(self, body: dict[str, Any], schema: str | None = None) -> None:
        name = schema or SCHEMA_OF_OBJECT[body["object"]]
        self.seen[name] = self.seen.get(name, 0) + 1
        errors = self.validator.errors(body, name)
        assert errors == [], f"{name} {body.get('id')}: " + "\n".join(errors)

    def get(self, path: str, schema: str | None = None) -> dict[str, Any]:
        body = self.raw("get", path)
        self.check(body, schema)
        return body

    def listing(self, path: str) -> Iterator[dict[str, Any]]:
        body = self.raw("get", path, limit=100)
        assert set(body) == {"object", "data", "has_more", "url"} and body["object"] == "list"
        assert isinstance(body["has_more"], bool) and isinstance(body["url"], str)
        for item in body["data"]:
            self.check(item)
            yield item


def test_every_object_the_store_uses_matches_the_spec(
        client: stripe.StripeClient, validator: Validator, new_session: NewSession, pay: Pay,
        web: requests.Session, server: ServerThread, control: Control, idle: Idle,
        receiver: Receiver) -> None:
    checked = Checked(client, validator)
    created = checked.raw("post", "/v1/webhook_endpoints", url=receiver.url,
                          enabled_events=["*"])
    checked.check(created)
    endpoint = checked.get(f"/v1/webhook_endpoints/{created['id']}")
    control("POST", "/async_delay", {"seconds": 60})

    open_session = new_session()
    checked.get(f"/v1/checkout/sessions/{open_session.id}")
    list(checked.listing(f"/v1/checkout/sessions/{open_session.id}/line_items"))
    assert pay(open_session, "4000000000000002").status_code == 402       # declined
    assert pay(open_session, "4242424242424242").status_code == 303       # then paid
    secure = new_session()
    assert pay(secure, "4000002760003184").status_code == 303             # 3-D Secure waiting
    checked.get(f"/v1/payment_intents/{client.v1.checkout.sessions.retrieve(secure.id).payment_intent}")
    web.post(secure.url.replace("/c/pay/", "/c/authenticate/"), data={"outcome": "fail"},
             allow_redirects=False, timeout=10)
    passed = new_session()
    pay(passed, "4000002760003184")
    web.post(passed.url.replace("/c/pay/", "/c/authenticate/"), data={"outcome": "complete"},
             allow_redirects=False, timeout=10)
    for iban in ("DE89370400440532013000", "DE62370400440532013001"):
        sepa = new_session()
        control("POST", f"/checkout/sessions/{sepa.id}/pay", {"iban": iban})
    checked.get(f"/v1/checkout/sessions/{sepa.id}")                        # processing
    control("POST", "/clock/advance", {"seconds": 60})                    # settled
    free = new_session(line_items=[{"quantity": 1, "price_data": {
        "currency": "eur", "unit_amount": 0, "product_data": {"name": "Free pack"}}}])
    control("POST", f"/checkout/sessions/{free.id}/pay", {})
    for card in ("4000000000000259", "4000000000001976"):
        pay(new_session(), card)                                          # disputes
    expired = new_session()
    pay(expired, "4000000000009995")
    client.v1.checkout.sessions.expire(expired.id)

    paid_charge = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(open_session.id).payment_intent).latest_charge
    refund = checked.raw("post", "/v1/refunds", charge=paid_charge, amount=500)
    checked.check(refund)
    control("POST", f"/refunds/{refund['id']}/fail")
    disputes = list(checked.listing("/v1/disputes"))
    chargeback = next(d for d in disputes if d["status"] == "needs_response")
    control("POST", f"/disputes/{chargeback['id']}/status", {"status": "under_review"})
    control("POST", f"/disputes/{chargeback['id']}/close", {"outcome": "won"})
    inquiry = next(d for d in disputes if d["status"] == "warning_needs_response")
    control("POST", f"/disputes/{inquiry['id']}/close", {"outcome": "warning_closed"})
    after_challenge = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(secure.id).payment_intent)
    assert after_challenge.status == "requires_payment_method"
    prevented = new_session()
    pay(prevented, "4242424242424242")
    prevented_charge = client.v1.payment_intents.retrieve(
        client.v1.checkout.sessions.retrieve(prevented.id).payment_intent).latest_charge
    control("POST", "/disputes", {"charge": prevented_charge, "status": "prevented"})
    idle()

    for path in ("/v1/checkout/sessions", "/v1/payment_intents", "/v1/charges", "/v1/refunds",
                 "/v1/disputes", "/v1/webhook_endpoints"):
        for item in checked.listing(path):
            checked.get(f"{path}/{item['id']}")
    for intent in checked.listing("/v1/payment_intents"):
        error = intent["last_payment_error"]
        if error and error.get("payment_method"):
            checked.get(f"/v1/payment_methods/{error['payment_method']['id']}")
        if intent["payment_method"]:
            checked.get(f"/v1/payment_methods/{intent['payment_method']}")
    for charge in checked.listing("/v1/charges"):
        if charge["balance_transaction"]:
            checked.get(f"/v1/balance_transactions/{charge['balance_transaction']}",
                        "balance_transaction")
    for event in checked.listing("/v1/events"):
        checked.check(event["data"]["object"])
    for item in receiver.received:
        checked.check(item.event)
        checked.check(item.event["data"]["object"])
    checked.check(checked.raw("delete", f"/v1/webhook_endpoints/{endpoint['id']}"),
                  "deleted_webhook_endpoint")

    # Every kind the store touches was seen, and what could not be judged is only what the
    # subset lacks.
    assert {"checkout.session", "item", "payment_intent", "charge", "refund", "dispute",
            "event", "webhook_endpoint", "deleted_webhook_endpoint", "payment_method",
            "balance_transaction"} <= set(checked.seen)
    print("not judged (missing from the subset):", sorted(validator.unjudged))
    assert validator.unjudged <= MISSING_FROM_SUBSET, validator.unjudged - MISSING_FROM_SUBSET


def test_connect_objects_and_events_match_the_spec(
        client: stripe.StripeClient, validator: Validator, pay: Pay, new_session: NewSession,
        web: requests.Session, control: Control, idle: Idle, receiver: Receiver) -> None:
    """Accounts, Account Links, transfers, reversals, the balance and the Connect events
    (``account.updated`` with ``account``, ``transfer.*``), as far as the subset judges."""
    checked = Checked(client, validator)
    checked.raw("post", "/v1/webhook_endpoints", url=receiver.url, enabled_events=["*"])
    checked.check(checked.raw("post", "/v1/webhook_endpoints", url=receiver.url + "?connect",
                              enabled_events=["*"], connect="true"))
    pay(new_session(), "4000000000000077")
    account = checked.raw("post", "/v1/accounts", type="express", country="DE",
                          email="artist@example.com",
                          capabilities={"transfers": {"requested": True}})
    checked.check(account)
    link = checked.raw("post", "/v1/account_links", account=account["id"],
                       type="account_onboarding", refresh_url="http://shop.test/refresh",
                       return_url="http://shop.test/return")
    checked.check(link)
    assert web.post(link["url"], data={"action": "complete"}, allow_redirects=False,
                    timeout=10).status_code == 303
    transfer = checked.raw("post", "/v1/transfers", amount=500, currency="eur",
                           destination=account["id"], metadata={"artist_id": "7"})
    checked.check(transfer)
    checked.check(checked.raw("post", f"/v1/transfers/{transfer['id']}/reversals", amount=100))
    checked.get(f"/v1/transfers/{transfer['id']}")
    checked.get(f"/v1/accounts/{account['id']}")
    checked.get("/v1/balance", "balance")
    checked.check(json.loads(client.raw_request("get", "/v1/balance",
                                                stripe_account=account["id"]).body), "balance")
    list(checked.listing("/v1/balance_transactions"))
    list(checked.listing("/v1/accounts"))
    list(checked.listing("/v1/transfers"))
    idle()
    connect_events = [item.event for item in receiver.received if "connect" in item.path]
    assert [event["type"] for event in connect_events] == ["account.updated"]
    assert connect_events[0]["account"] == account["id"]
    for item in receiver.received:
        checked.check(item.event)
        checked.check(item.event["data"]["object"])
    assert {"transfer.created", "transfer.reversed"} <= {
        item.event["type"] for item in receiver.received}
    assert validator.unjudged <= MISSING_FROM_SUBSET | CONNECT_SCHEMAS, validator.unjudged


def test_error_bodies_match_the_spec(validator: Validator, server: ServerThread,
                                     web: requests.Session, new_session: NewSession,
                                     pay: Pay) -> None:
    def error_of(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = web.request(method, f"{server.base_url}{path}", auth=(API_KEY, ""), timeout=10,
                             **kwargs)
        assert answer.status_code >= 400
        body: dict[str, Any] = answer.json()
        return body

    bodies = [
        error_of("get", "/v1/charges/ch_missing"),
        error_of("post", "/v1/checkout/sessions", data={"mode": "payment"}),
        error_of("post", "/v1/payment_intents", data={"amount": "10", "currency": "eur"}),
        error_of("post", "/v1/payment_intents", data={
            "amount": "1000", "currency": "eur", "payment_method": "pm_card_chargeDeclined",
            "confirm": "true"}),
        error_of("get", "/v1/events", headers={"Stripe-Version": "2099-01-01"}),
        error_of("get", "/v1/balance", headers={"Stripe-Account": "acct_missing"}),
        error_of("post", "/v1/transfers", data={"amount": "100", "currency": "usd",
                                                "destination": "acct_missing"}),
    ]
    for body in bodies:
        assert validator.errors(body, "error") == [], body


def test_the_spec_subset_and_the_sdk_pin(validator: Validator) -> None:
    """The subset is the newest spec available here; the SDK pins a later version."""
    assert validator.version == "2026-07-29.dahlia"
    assert stripe.VERSION == "16.1.0" and stripe.api_version == "2026-10-28.endive"
