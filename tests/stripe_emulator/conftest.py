"""Fixtures for the Stripe emulator's contract tests: the official SDK over real HTTP.

Each test gets a fresh emulator served by a werkzeug thread on a free loopback port, a
``stripe.StripeClient`` pointed at it, and, for webhooks, a tiny real HTTP receiver that
records what it is sent and answers with scripted status codes.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe
from flask import Flask

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulator_common import ServerThread  # noqa: E402
from stripe_emulator import DispatchSettings, Emulator, Settings, create_app  # noqa: E402

API_KEY = "sk_test_indiepacks"


def fast_settings() -> Settings:
    """Webhook retries every 50 ms (doubling) and a sweep every 50 ms, so tests stay quick."""
    return Settings(dispatch=DispatchSettings(retry_base_delay=0.05, max_attempts=4,
                                              timeout=2.0, tick_interval=0.05))


@pytest.fixture
def app() -> Iterator[Flask]:
    app = create_app(settings=fast_settings())
    yield app
    app.extensions["stripe_emulator"].close()


@pytest.fixture
def emulator(app: Flask) -> Emulator:
    return app.extensions["stripe_emulator"]


@pytest.fixture
def server(app: Flask) -> Iterator[ServerThread]:
    with ServerThread(app) as running:
        yield running


@pytest.fixture
def web() -> Iterator[requests.Session]:
    """A plain HTTP client, as a browser or the control API's user would be."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def make_client(server: ServerThread) -> Iterator[Callable[..., stripe.StripeClient]]:
    """``make_client(api_key=API_KEY)`` -> a StripeClient on the emulator, no retries."""
    sessions: list[requests.Session] = []

    def make(api_key: str = API_KEY, **kwargs: Any) -> stripe.StripeClient:
        session = requests.Session()
        session.trust_env = False
        sessions.append(session)
        kwargs.setdefault("max_network_retries", 0)
        return stripe.StripeClient(api_key, base_addresses={"api": server.base_url},
                                   http_client=stripe.RequestsClient(session=session), **kwargs)

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def client(make_client: Callable[..., stripe.StripeClient]) -> stripe.StripeClient:
    return make_client()


def session_params(**overrides: Any) -> dict[str, Any]:
    """What the store sends: one pay-what-you-want line item, metadata, both URLs."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "eur", "unit_amount": 1500,
            "product_data": {"name": "Winter Pack (5 albums)"}}}],
        "success_url": "http://shop.test/orders/paid?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/packs/winter",
        "customer_email": "buyer@example.com",
        "client_reference_id": "order-42",
        "metadata": {"order_id": "42"},
        "payment_intent_data": {"metadata": {"order_id": "42"}},
    }
    params.update(overrides)
    return params


@pytest.fixture
def new_session(client: stripe.StripeClient) -> Callable[..., stripe.checkout.Session]:
    def make(**overrides: Any) -> stripe.checkout.Session:
        return client.v1.checkout.sessions.create(params=session_params(**overrides))  # type: ignore[arg-type]

    return make


@pytest.fixture
def pay(web: requests.Session) -> Callable[[stripe.checkout.Session, str], requests.Response]:
    """Submit the hosted page's form with a card number; redirects are not followed."""

    def submit(session: stripe.checkout.Session, card: str) -> requests.Response:
        assert session.url is not None
        return web.post(session.url, data={"cardnumber": card}, allow_redirects=False,
                         timeout=10)

    return submit


@pytest.fixture
def paid_session(new_session: Callable[..., stripe.checkout.Session],
                 pay: Callable[[stripe.checkout.Session, str], requests.Response]
                 ) -> Callable[..., stripe.checkout.Session]:
    """``paid_session(card=4242..., **params)``: a session paid through the hosted page."""

    def make(card: str = "4242424242424242", **overrides: Any) -> stripe.checkout.Session:
        session = new_session(**overrides)
        assert pay(session, card).status_code == 303
        return session

    return make


@pytest.fixture
def control(server: ServerThread, web: requests.Session) -> Callable[..., Any]:
    """``control("POST", "/webhooks/fail", {"count": 1})`` -> the JSON answer (asserts 200)."""

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = web.request(method, f"{server.base_url}/__emulator__{path}", json=body,
                               timeout=15)
        assert response.status_code == 200, response.text
        return response.json()

    return call


@pytest.fixture
def idle(control: Callable[..., Any]) -> Callable[[], None]:
    def wait() -> None:
        assert control("POST", "/webhooks/wait", {"timeout": 10})["idle"] is True

    return wait


# -- a real webhook receiver ---------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class _ReceiverServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True
    receiver: Receiver


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _ReceiverServer

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = self.server.receiver.record(Received(self.path, dict(self.headers), body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver:
    """Records every POST; answers ``statuses`` in turn, then 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self._cond = threading.Condition()
        self._server = _ReceiverServer(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.url = f"http://127.0.0.1:{self._server.server_port}/payments/stripe/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def record(self, item: Received) -> int:
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"got {len(self.received)} deliveries, wanted {count}")
                self._cond.wait(remaining)
            return list(self.received)

    def types(self) -> list[str]:
        with self._cond:
            return [item.event["type"] for item in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def endpoint(client: stripe.StripeClient, receiver: Receiver) -> stripe.WebhookEndpoint:
    """An endpoint for every event type, created through the API (so it has a secret)."""
    return client.v1.webhook_endpoints.create(params={"url": receiver.url,
                                                      "enabled_events": ["*"]})


#: The fixtures' types, for the tests' signatures.
MakeClient = Callable[..., stripe.StripeClient]
NewSession = Callable[..., stripe.checkout.Session]
Pay = Callable[[stripe.checkout.Session, str], requests.Response]
PaidSession = Callable[..., stripe.checkout.Session]
Control = Callable[..., Any]
Idle = Callable[[], None]
