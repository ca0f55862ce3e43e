"""A store that takes payments through the Stripe emulator, everything over real HTTP.

The emulator runs in a werkzeug thread on one loopback port with a webhook endpoint
registered for the store's ``/payments/stripe/webhook``; the store is served on another
port (the one in ``BASE_URL``), so Stripe's events reach it as they would in production,
signed with the endpoint's secret. The store talks to the emulator through the official
``stripe`` SDK. Buyers are Flask test clients (one per browser) that follow the
redirect to the emulator's payment page by paying through its control API, which does
exactly what the page's form does.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import stripe
from flask import Flask
from flask.testing import FlaskClient

import stripe_emulator
from emulator_common import ServerThread
from shop.extensions import db
from shop.models import Order
from shop.payments.models import PaymentEvent
from tests.services import ROOT

API_KEY = "sk_test_indiepacks_store"
WEBHOOK_SECRET = "whsec_indiepacks_test_endpoint"
CONNECT_WEBHOOK_SECRET = "whsec_indiepacks_test_connect_endpoint"


def stripe_command_env(config: Mapping[str, Any]) -> dict[str, str]:
    """The environment of a ``flask`` command run in its own process against the same database,
    media, outbox and Stripe emulator as the test's app (and none of the caller's SHOP_* settings)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOP_")},
        "PYTHONPATH": str(ROOT),
        "SHOP_ENV": "testing",
        "SHOP_SECRET_KEY": config["SECRET_KEY"],
        "SHOP_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "SHOP_MEDIA_ROOT": config["MEDIA_ROOT"],
        "SHOP_OUTBOX_DIR": config["OUTBOX_DIR"],
        "SHOP_BASE_URL": config["BASE_URL"],
        "SHOP_PAYMENT_PROVIDER": "stripe",
        "SHOP_STRIPE_SECRET_KEY": config["STRIPE_SECRET_KEY"],
        "SHOP_STRIPE_WEBHOOK_SECRET": config["STRIPE_WEBHOOK_SECRET"],
        "SHOP_STRIPE_API_URL": config["STRIPE_API_URL"],
    }
SUCCESS_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000002"
DISPUTE_CARD = "4000000000000259"
BUYER = "buyer@example.com"


def fast_settings() -> stripe_emulator.Settings:
    return stripe_emulator.Settings(dispatch=stripe_emulator.DispatchSettings(
        retry_base_delay=0.05, max_attempts=4, timeout=5.0, tick_interval=0.05))


class Emulated:
    """The emulator as a test drives it: the control API and an SDK client, over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.web = requests.Session()
        self.web.trust_env = False
        self._sdk_session = requests.Session()
        self._sdk_session.trust_env = False
        self.client = stripe.StripeClient(API_KEY, base_addresses={"api": base_url}, max_network_retries=0,
                                          http_client=stripe.RequestsClient(session=self._sdk_session))

    def close(self) -> None:
        self.web.close()
        self._sdk_session.close()

    def control(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        response = self.web.request(method, f"{self.base_url}/__emulator__/{path}", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def pay(self, session_id: str, card: str = SUCCESS_CARD) -> dict[str, Any]:
        return self.control(f"checkout/sessions/{session_id}/pay", {"card": card})

    def wait(self, timeout: float = 20) -> None:
        """Until every webhook delivery so far has been answered."""
        assert self.control("webhooks/wait", {"timeout": timeout})["idle"]

    def advance(self, seconds: int) -> dict[str, Any]:
        return self.control("clock/advance", {"seconds": seconds})

    def now(self) -> int:
        return int(self.control("clock", method="GET")["now"])

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.control("webhooks/deliveries", method="GET")["deliveries"])

    def charge_of(self, session_id: str) -> str:
        session = self.client.v1.checkout.sessions.retrieve(session_id, params={"expand": ["payment_intent"]})
        intent = session.payment_intent
        assert isinstance(intent, stripe.PaymentIntent)
        assert isinstance(intent.latest_charge, str)
        return intent.latest_charge


@pytest.fixture
def stripe_server() -> Iterator[ServerThread]:
    app = stripe_emulator.create_app(api_keys=[API_KEY], settings=fast_settings())
    try:
        with ServerThread(app) as server:
            yield server
    finally:
        app.extensions["stripe_emulator"].close()


@pytest.fixture
def stripe_overrides(stripe_server: ServerThread, store_port: int) -> dict[str, Any]:
    return {
        "PAYMENT_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": API_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET,
        "STRIPE_API_URL": stripe_server.base_url,
        "BASE_URL": f"http://127.0.0.1:{store_port}",
    }


@pytest.fixture
def app_overrides(stripe_overrides: dict[str, Any]) -> dict[str, Any]:
    return stripe_overrides


@pytest.fixture
def emulated(stripe_server: ServerThread, store_server: ServerThread) -> Iterator[Emulated]:
    """The emulator with the store's two webhook endpoints registered (the store is up): the
    platform's, and the ``connect=true`` one that tells the store about artists' accounts."""
    emulated = Emulated(stripe_server.base_url)
    emulated.control("webhook_endpoints", {"url": f"{store_server.base_url}/payments/stripe/webhook",
                                           "secret": WEBHOOK_SECRET})
    emulated.control("webhook_endpoints", {"url": f"{store_server.base_url}/payments/stripe/connect-webhook",
                                           "secret": CONNECT_WEBHOOK_SECRET, "connect": True})
    try:
        yield emulated
    finally:
        emulated.close()


@dataclass
class Checkout:
    order_id: int
    session_id: str
    url: str


@dataclass
class Buyer:
    """One browser: buys a pack, comes back from the payment page."""

    client: FlaskClient
    emulated: Emulated
    email: str = BUYER
    checkouts: list[Checkout] = field(default_factory=list)

    def buy(self, pack_slug: str, amount: str = "12.00") -> Checkout:
        response = self.client.post(f"/packs/{pack_slug}/buy", data={"amount": amount, "email": self.email})
        assert response.status_code == 303, response.get_data(as_text=True)
        url = response.headers["Location"]
        assert url.startswith(self.emulated.base_url + "/c/pay/cs_test_"), url
        session_id = url.rsplit("/", 1)[1]
        db.session.rollback()
        order = db.session.scalar(db.select(Order).where(Order.checkout_session_id == session_id))
        assert order is not None
        checkout = Checkout(order.id, session_id, url)
        db.session.commit()
        self.checkouts.append(checkout)
        return checkout

    def come_back(self, redirect: str) -> Any:
        """Follow the payment page's redirect to the store's success URL."""
        parts = urlsplit(redirect)
        return self.client.get(f"{parts.path}?{parts.query}")


@pytest.fixture
def buyer(client: FlaskClient, emulated: Emulated) -> Buyer:
    return Buyer(client, emulated)


def order_now(order_id: int) -> Order:
    """The order as the database has it now (the read transaction ended, for SQLite)."""
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert order is not None
    db.session.commit()
    return order


def events_recorded() -> list[PaymentEvent]:
    db.session.expire_all()
    events = list(db.session.scalars(db.select(PaymentEvent).order_by(PaymentEvent.id)))
    db.session.commit()
    return events


def mail_subjects(app: Flask) -> list[str]:
    outbox = Path(app.config["OUTBOX_DIR"])
    if not outbox.exists():
        return []
    subjects = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects.append(str(message["Subject"]))
    return subjects


def receipts(app: Flask) -> list[str]:
    return [s for s in mail_subjects(app) if s.startswith("Your music from ")]


def refund_notices(app: Flask) -> list[str]:
    return [s for s in mail_subjects(app) if s.endswith("was refunded")]


def order_token(response: Any) -> str:
    """The order link a return to the store redirected to."""
    location = response.headers["Location"]
    match = re.search(r"/orders/([A-Za-z0-9_-]{43})$", location)
    assert match, location
    return match.group(1)
