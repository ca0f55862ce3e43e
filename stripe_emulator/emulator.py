"""The emulator's state and everything that changes it: sessions, payments, refunds,
disputes, webhook endpoints and the events each change emits.

Objects are kept as the JSON dicts Stripe puts on the wire, behind one re-entrant lock,
and saved to ``state.json`` after every change when a data directory is configured. No
Flask request object is used here: the API, the hosted page and the control API all call
the same methods.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator_common import Clock, JsonStateFile

from . import objects
from .ids import new_id, new_webhook_secret
from .webhooks import Dispatcher, DispatchSettings
from .wire import (
    StripeError,
    check_known,
    integer,
    invalid,
    metadata,
    missing,
    no_such,
    text,
)

DEFAULT_API_VERSION = "2026-10-28.endive"
MIN_SESSION_LIFETIME = 30 * 60
MAX_SESSION_LIFETIME = 24 * 60 * 60
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf",
                          "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
_EVENT_TYPE = re.compile(r"^\*$|^[a-z_]+(\.[a-z_]+)+$")

#: ``(request id, idempotency key)`` of the API request being handled, for ``event.request``.
current_request: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "stripe_emulator_request", default=(None, None))


@dataclass(frozen=True)
class Card:
    """A test card: ``failure`` is ``(code, decline_code, message)``; ``dispute`` a reason."""

    failure: tuple[str, str, str] | None = None
    dispute: str | None = None


CARDS: dict[str, Card] = {
    "4242424242424242": Card(),
    "4000000000000259": Card(dispute="fraudulent"),
    "4000000000000002": Card(("card_declined", "generic_decline", "Your card was declined.")),
    "4000000000009995": Card(("card_declined", "insufficient_funds",
                              "Your card has insufficient funds.")),
    "4000000000009987": Card(("card_declined", "lost_card", "Your card was declined.")),
    "4000000000000069": Card(("expired_card", "expired_card", "Your card has expired.")),
}

#: Stripe's test PaymentMethod ids, for PaymentIntents confirmed through the API.
TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
}


@dataclass
class Settings:
    """Tunables; ``api_keys`` empty means any ``sk_test_`` key is accepted."""

    api_keys: tuple[str, ...] = ()
    api_version: str = DEFAULT_API_VERSION
    public_url: str | None = None
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)


@dataclass
class PaymentResult:
    """What the hosted page shows: ``redirect`` on success, else ``error`` (a sentence)."""

    redirect: str | None = None
    error: str | None = None
    code: str | None = None
    decline_code: str | None = None


class SessionNotPayable(Exception):
    """The session is expired or already complete; the hosted page says so."""

    def __init__(self, session: dict[str, Any]) -> None:
        super().__init__(session["status"])
        self.session = session


def luhn_valid(number: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def merge_metadata(current: dict[str, str], params: dict[str, Any]) -> dict[str, str]:
    """Stripe's update rule: keys are added or replaced, ``""`` unsets a key or, for the
    whole ``metadata``, all of them."""
    if "metadata" not in params:
        return current
    raw = params["metadata"]
    metadata(params)  # validates
    if raw == "":
        return {}
    merged = {**current, **raw}
    return {key: value for key, value in merged.items() if value != ""}


def format_amount(amount: int, currency: str) -> str:
    """``12.00 EUR`` (``1200 JPY`` for zero-decimal currencies)."""
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount // 100}.{amount % 100:02d} {currency.upper()}"


class Emulator:
    """All state behind :attr:`lock`; :meth:`close` stops the webhook thread.

    :param data_dir: keep ``state.json`` there (``None``: memory only).
    """

    KINDS = {
        "cs_": ("sessions", "checkout.session"),
        "pi_": ("payment_intents", "payment_intent"),
        "ch_": ("charges", "charge"),
        "re_": ("refunds", "refund"),
        "dp_": ("disputes", "dispute"),
        "evt_": ("events", "event"),
        "we_": ("webhook_endpoints", "webhook_endpoint"),
    }

    def __init__(self, data_dir: str | Path | None = None, settings: Settings | None = None
                 ) -> None:
        self.settings = settings or Settings()
        self.lock = threading.RLock()
        self.clock = Clock()
        self.state_file = JsonStateFile(Path(data_dir) / "state.json") if data_dir else None
        self.sessions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.webhook_endpoints: dict[str, dict[str, Any]] = {}
        #: session id -> its line items, and what the session passes on to its PaymentIntent.
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        self.intent_data: dict[str, dict[str, Any]] = {}
        #: ``"<api key>:<idempotency key>"`` -> the stored first response.
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.in_flight: set[str] = set()
        #: endpoints given at start-up, kept by :meth:`reset`.
        self.configured_endpoints: set[str] = set()
        if self.state_file is not None:
            saved = self.state_file.load()
            if saved is not None:
                self._load(saved)
        self.webhooks = Dispatcher(self.clock, self.settings.dispatch, self._delivered,
                                   self.expire_due_sessions)

    def close(self) -> None:
        self.webhooks.close()

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def change(self) -> Iterator[None]:
        """Hold the lock for a change and persist it afterwards."""
        with self.lock:
            try:
                yield
            finally:
                self.save()

    def save(self) -> None:
        if self.state_file is None:
            return
        with self.lock:
            self.state_file.save(self._dump())

    _COLLECTIONS = ("sessions", "payment_intents", "charges", "refunds", "disputes", "events",
                    "webhook_endpoints", "line_items", "intent_data", "idempotency")

    def _dump(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self._COLLECTIONS}
        data["clock_offset"] = self.clock.offset
        data["configured_endpoints"] = sorted(self.configured_endpoints)
        return data

    def _load(self, data: dict[str, Any]) -> None:
        for name in self._COLLECTIONS:
            getattr(self, name).update(data.get(name, {}))
        self.clock.offset = float(data.get("clock_offset", 0.0))
        self.configured_endpoints.update(data.get("configured_endpoints", []))

    def now(self) -> int:
        return self.clock.timestamp()

    def collection(self, object_id: str) -> tuple[dict[str, dict[str, Any]], str] | None:
        """The dict holding objects with this id's prefix, and the object's type name."""
        for prefix, (name, kind) in self.KINDS.items():
            if object_id.startswith(prefix):
                return getattr(self, name), kind
        return None

    def get(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        """A copy of the object as served (``kind`` is the collection name)."""
        with self.lock:
            self.expire_due_sessions()
            found = getattr(self, kind).get(object_id)
            if found is None:
                raise no_such(self._type_name(kind), object_id, param)
            return self.view(found)

    def _type_name(self, kind: str) -> str:
        names = {name: type_name for name, type_name in self.KINDS.values()}
        return names[kind].replace("webhook_endpoint", "webhook endpoint")

    def view(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A deep copy with computed parts filled in (a charge's refunds list)."""
        served = copy.deepcopy(obj)
        if served.get("object") == "charge":
            refunds = sorted((self.view(r) for r in self.refunds.values()
                              if r["charge"] == served["id"]),
                             key=lambda r: r["created"], reverse=True)
            served["refunds"] = {"object": "list", "data": refunds, "has_more": False,
                                 "total_count": len(refunds),
                                 "url": f"/v1/charges/{served['id']}/refunds"}
        elif served.get("object") == "webhook_endpoint":
            served.pop("secret", None)
        return served

    def listing(self, kind: str, **filters: str | None) -> list[dict[str, Any]]:
        """Every object of a collection matching ``filters``, newest first."""
        with self.lock:
            self.expire_due_sessions()
            items = [self.view(obj) for obj in getattr(self, kind).values()
                     if all(value is None or obj.get(key) == value
                            for key, value in filters.items())]
        # Insertion order breaks ties between objects created in the same second.
        return list(reversed(items))

    def _emit(self, event_type: str, obj: dict[str, Any],
              previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store an event about ``obj`` (its state now) and queue its deliveries."""
        request_id, idempotency_key = current_request.get()
        endpoints = [endpoint for endpoint in self.webhook_endpoints.values()
                     if endpoint["status"] == "enabled"
                     and ("*" in endpoint["enabled_events"]
                          or event_type in endpoint["enabled_events"])]
        event = objects.event(created=self.now(), event_type=event_type, obj=self.view(obj),
                              previous=previous, api_version=self.settings.api_version,
                              request_id=request_id, idempotency_key=idempotency_key,
                              pending_webhooks=len(endpoints))
        self.events[event["id"]] = event
        # Stripe sends events pretty-printed; the signature covers these exact bytes.
        self.webhooks.enqueue(event, json.dumps(event, indent=2), endpoints)
        return event

    def _delivered(self, event_id: str, endpoint_id: str) -> None:
        with self.change():
            event = self.events.get(event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    @staticmethod
    def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        return {key: before[key] for key in after if before.get(key) != after[key]}

    # -- checkout sessions --------------------------------------------------------------------

    SESSION_PARAMS = ("mode", "line_items", "success_url", "cancel_url", "customer_email",
                      "client_reference_id", "metadata", "payment_intent_data", "expires_at",
                      "payment_method_types", "locale", "submit_type", "ui_mode")

    def create_session(self, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        """``POST /v1/checkout/sessions``: validate everything, then store an open session."""
        check_known(params, self.SESSION_PARAMS)
        mode = text(params, "mode", required=True)
        if mode != "payment":
            raise invalid("mode", f"Invalid mode: {mode}; this emulator supports only payment",
                          "parameter_invalid_empty")
        ui_mode = text(params, "ui_mode")
        if ui_mode not in (None, "hosted"):
            raise invalid("ui_mode", f"Invalid ui_mode: {ui_mode}; only hosted is emulated")
        success_url = self._url(params, "success_url", required=True)
        assert success_url is not None
        cancel_url = self._url(params, "cancel_url")
        items = self._line_items(params)
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise invalid("line_items", "All line items must use the same currency.")
        types = params.get("payment_method_types")
        if types is not None and types != ["card"]:
            raise invalid("payment_method_types",
                          "Only payment_method_types[0]=card is emulated.")
        email = text(params, "customer_email")
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise invalid("customer_email", f"Invalid email address: {email}", "email_invalid")
        reference = text(params, "client_reference_id", max_length=200)
        meta = metadata(params) or {}
        intent_params = params.get("payment_intent_data") or {}
        if not isinstance(intent_params, dict):
            raise invalid("payment_intent_data", "Invalid hash")
        check_known(intent_params, ("metadata", "description", "receipt_email"),
                    "payment_intent_data")
        intent_data = {
            "metadata": metadata(intent_params, param="payment_intent_data[metadata]") or {},
            "description": text(intent_params, "description"),
            "receipt_email": text(intent_params, "receipt_email"),
        }
        submit_type = text(params, "submit_type")
        if submit_type not in (None, "auto", "book", "donate", "pay", "subscribe"):
            raise invalid("submit_type", f"Invalid submit_type: {submit_type}")
        with self.change():
            self.expire_due_sessions()
            created = self.now()
            expires_at = integer(params, "expires_at")
            if expires_at is None:
                expires_at = created + MAX_SESSION_LIFETIME
            elif expires_at < created + MIN_SESSION_LIFETIME:
                raise invalid("expires_at", "The `expires_at` timestamp must be at least 30 "
                              "minutes from Checkout Session creation.", "parameter_invalid_integer")
            elif expires_at > created + MAX_SESSION_LIFETIME:
                raise invalid("expires_at", "The `expires_at` timestamp must be less than 24 "
                              "hours from Checkout Session creation.", "parameter_invalid_integer")
            session_id = new_id("cs_test_")
            session = objects.checkout_session(
                session_id=session_id, created=created, expires_at=expires_at,
                url=f"{(self.settings.public_url or base_url).rstrip('/')}/c/pay/{session_id}",
                success_url=success_url, cancel_url=cancel_url,
                amount_total=sum(item["amount_total"] for item in items),
                currency=items[0]["currency"], customer_email=email,
                client_reference_id=reference, metadata=meta, locale=text(params, "locale"),
                submit_type=submit_type)
            self.sessions[session_id] = session
            self.line_items[session_id] = items
            self.intent_data[session_id] = intent_data
            return self.view(session)

    @staticmethod
    def _url(params: dict[str, Any], name: str, required: bool = False) -> str | None:
        value = text(params, name, required=required, max_length=5000)
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise invalid(name, "Not a valid URL", "url_invalid")
        return value

    def _line_items(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        raw = params.get("line_items")
        if raw is None:
            raise missing("line_items")
        if not isinstance(raw, list) or not raw:
            raise invalid("line_items", "Invalid array")
        items = []
        for index, item in enumerate(raw):
            label = f"line_items[{index}]"
            if not isinstance(item, dict):
                raise invalid(label, "Invalid hash")
            check_known(item, ("price_data", "quantity", "price"), label)
            if "price" in item:
                raise no_such("price", str(item["price"]), f"{label}[price]")
            quantity = integer(item, "quantity", required=True, param=f"{label}[quantity]",
                               minimum=1)
            price = item.get("price_data")
            if not isinstance(price, dict):
                raise missing(f"{label}[price_data]")
            price_label = f"{label}[price_data]"
            check_known(price, ("currency", "unit_amount", "product_data", "tax_behavior"),
                        price_label)
            currency = text(price, "currency", required=True, param=f"{price_label}[currency]")
            assert currency is not None
            if not re.fullmatch(r"[A-Za-z]{3}", currency):
                raise invalid(f"{price_label}[currency]", f"Invalid currency: {currency}",
                              "parameter_invalid_string")
            amount = integer(price, "unit_amount", required=True,
                             param=f"{price_label}[unit_amount]", minimum=0)
            product = price.get("product_data")
            if not isinstance(product, dict):
                raise missing(f"{price_label}[product_data]")
            check_known(product, ("name", "description", "metadata", "images"),
                        f"{price_label}[product_data]")
            name = text(product, "name", required=True,
                        param=f"{price_label}[product_data][name]")
            assert name is not None and amount is not None and quantity is not None
            items.append(objects.line_item(name=name, unit_amount=amount, quantity=quantity,
                                           currency=currency.lower()))
        return items

    def update_session(self, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, ("metadata",))
        with self.change():
            session = self._require("sessions", session_id)
            session["metadata"] = merge_metadata(session["metadata"], params)
            return self.view(session)

    def _require(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        found: dict[str, Any] | None = getattr(self, kind).get(object_id)
        if found is None:
            raise no_such(self._type_name(kind), object_id, param)
        return found

    def expire_session(self, session_id: str) -> dict[str, Any]:
        """``POST .../expire``: only an open session can be expired."""
        with self.change():
            self.expire_due_sessions()
            session = self._require("sessions", session_id)
            if session["status"] != "open":
                raise StripeError(
                    f"Only Checkout Sessions with a status in [\"open\"] can be expired. "
                    f"This Checkout Session has a status of \"{session['status']}\".",
                    code="checkout_session_not_open")
            self._expire(session)
            return self.view(session)

    def _expire(self, session: dict[str, Any]) -> None:
        intent = self.payment_intents.get(session["payment_intent"] or "")
        if intent is not None and intent["status"] != "succeeded":
            before = copy.deepcopy(intent)
            intent.update(status="canceled", canceled_at=self.now(),
                          cancellation_reason="abandoned")
            self._emit("payment_intent.canceled", intent, self._changes(before, intent))
        session["status"] = "expired"
        session["url"] = None
        self._emit("checkout.session.expired", session)

    def expire_due_sessions(self) -> list[str]:
        """Expire every open session whose ``expires_at`` the clock has reached."""
        with self.lock:
            now = self.now()
            due = [s for s in self.sessions.values()
                   if s["status"] == "open" and s["expires_at"] <= now]
            if not due:
                return []
            with self.change():
                for session in due:
                    self._expire(session)
            return [session["id"] for session in due]

    def advance_clock(self, seconds: float) -> list[str]:
        """Move the clock forward; returns the ids of the sessions that expired."""
        with self.change():
            self.clock.advance(seconds)
            return self.expire_due_sessions()

    # -- paying (the hosted page) -------------------------------------------------------------

    def session_for_page(self, session_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with self.lock:
            self.expire_due_sessions()
            session = self._require("sessions", session_id)
            return self.view(session), copy.deepcopy(self.line_items.get(session_id, []))

    def pay(self, session_id: str, card_number: str) -> PaymentResult:
        """Pay an open session with a test card, as the hosted page's form does.

        :raises StripeError: 404 for an unknown session.
        :raises SessionNotPayable: the session is expired or complete.
        """
        number = re.sub(r"[\s-]", "", card_number or "")
        with self.change():
            self.expire_due_sessions()
            session = self._require("sessions", session_id)
            if session["status"] != "open":
                raise SessionNotPayable(self.view(session))
            if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
                return PaymentResult(error="Your card number is incorrect.",
                                     code="incorrect_number")
            card = CARDS.get(number)
            if card is None:
                return PaymentResult(
                    error="Your card was declined. Your request was in test mode, but used a "
                          "non test (live) card.",
                    code="card_declined", decline_code="test_mode_live_card")
            intent = self._intent_for(session)
            return self._charge(session, intent, number, card)

    def _intent_for(self, session: dict[str, Any]) -> dict[str, Any]:
        existing = self.payment_intents.get(session["payment_intent"] or "")
        if existing is not None:
            return existing
        data = self.intent_data.get(session["id"], {})
        intent = objects.payment_intent(
            created=self.now(), amount=session["amount_total"], currency=session["currency"],
            metadata=dict(data.get("metadata", {})), description=data.get("description"),
            receipt_email=data.get("receipt_email"))
        self.payment_intents[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        self._emit("payment_intent.created", intent)
        return intent

    def _attempt(self, intent: dict[str, Any], number: str, card: Card, email: str | None
                 ) -> dict[str, Any]:
        """Charge ``intent`` with a test card: a charge, the intent's new state, their events."""
        payment_method = new_id("pm_")
        charge = objects.charge(created=self.now(), intent=intent, payment_method=payment_method,
                                number=number, email=email, failure=card.failure)
        self.charges[charge["id"]] = charge
        before = copy.deepcopy(intent)
        intent["latest_charge"] = charge["id"]
        intent["payment_method"] = payment_method
        if card.failure is not None:
            code, decline_code, message = card.failure
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error", "code": code, "decline_code": decline_code,
                "message": message, "charge": charge["id"],
                "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                "payment_method": {"id": payment_method, "object": "payment_method",
                                   "type": "card"},
            }
            self._emit("charge.failed", charge)
            self._emit("payment_intent.payment_failed", intent, self._changes(before, intent))
            return charge
        intent.update(status="succeeded", amount_received=intent["amount"],
                      last_payment_error=None)
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent, self._changes(before, intent))
        return charge

    def _charge(self, session: dict[str, Any], intent: dict[str, Any], number: str,
                card: Card) -> PaymentResult:
        charge = self._attempt(intent, number, card, session["customer_email"])
        if card.failure is not None:
            code, decline_code, message = card.failure
            return PaymentResult(error=message, code=code, decline_code=decline_code)
        session.update(status="complete", payment_status="paid",
                       customer_details=objects.customer_details(session["customer_email"]),
                       url=None)
        self._emit("checkout.session.completed", session)
        if card.dispute is not None:
            self._open_dispute(charge, card.dispute)
        redirect = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return PaymentResult(redirect=redirect)

    # -- PaymentIntents through the API (test payment methods) ---------------------------------

    INTENT_PARAMS = ("amount", "currency", "metadata", "description", "receipt_email",
                     "payment_method", "confirm", "payment_method_types")

    def create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/payment_intents``; with ``confirm=true`` it is charged at once.

        :raises StripeError: 402 ``card_error`` when the test payment method is declined.
        """
        check_known(params, self.INTENT_PARAMS)
        amount = integer(params, "amount", required=True, minimum=1)
        currency = text(params, "currency", required=True)
        assert amount is not None and currency is not None
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise invalid("currency", f"Invalid currency: {currency}", "parameter_invalid_string")
        types = params.get("payment_method_types")
        if types is not None and types != ["card"]:
            raise invalid("payment_method_types", "Only payment_method_types[0]=card is emulated.")
        confirm = self._boolean(params, "confirm")
        method = text(params, "payment_method")
        if method is not None:
            self._test_card(method)
        with self.change():
            intent = objects.payment_intent(
                created=self.now(), amount=amount, currency=currency.lower(),
                metadata=metadata(params) or {}, description=text(params, "description"),
                receipt_email=text(params, "receipt_email"))
            if method is not None:
                intent["status"] = "requires_confirmation"
            self.payment_intents[intent["id"]] = intent
            self._emit("payment_intent.created", intent)
            if confirm:
                return self._confirm(intent, method)
            return self.view(intent)

    def confirm_intent(self, intent_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/payment_intents/{id}/confirm`` with a test ``payment_method``."""
        check_known(params, ("payment_method", "receipt_email"))
        with self.change():
            intent = self._require("payment_intents", intent_id)
            return self._confirm(intent, text(params, "payment_method"))

    def _confirm(self, intent: dict[str, Any], method: str | None) -> dict[str, Any]:
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise StripeError(
                "This PaymentIntent's payment_method could not be updated because it has a "
                f"status of {intent['status']}. You may only update the payment_method of a "
                "PaymentIntent with one of the following statuses: requires_payment_method, "
                "requires_confirmation, requires_action.",
                code="payment_intent_unexpected_state",
                extra={"payment_intent": self.view(intent)})
        if method is None:
            raise StripeError("You cannot confirm this PaymentIntent because it's missing a "
                              "payment method.", code="payment_intent_unexpected_state",
                              param="payment_method")
        number, card = self._test_card(method)
        charge = self._attempt(intent, number, card, intent["receipt_email"])
        if card.failure is not None:
            code, decline_code, message = card.failure
            raise StripeError(message, status=402, type="card_error", code=code,
                              decline_code=decline_code,
                              extra={"charge": charge["id"],
                                     "payment_intent": self.view(intent),
                                     "payment_method": intent["last_payment_error"]
                                     ["payment_method"]})
        if card.dispute is not None:
            self._open_dispute(charge, card.dispute)
        return self.view(intent)

    @staticmethod
    def _boolean(params: dict[str, Any], name: str) -> bool:
        value = params.get(name)
        if value in (None, "false"):
            return False
        if value == "true":
            return True
        raise invalid(name, f"Invalid boolean: {value}", "parameter_invalid_boolean")

    @staticmethod
    def _test_card(method: str) -> tuple[str, Card]:
        number = TEST_PAYMENT_METHODS.get(method)
        if number is None:
            raise no_such("PaymentMethod", method, "payment_method")
        return number, CARDS[number]

    # -- refunds ------------------------------------------------------------------------------

    REFUND_PARAMS = ("payment_intent", "charge", "amount", "reason", "metadata",
                     "instructions_email")

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, self.REFUND_PARAMS)
        intent_id = text(params, "payment_intent")
        charge_id = text(params, "charge")
        amount = integer(params, "amount", minimum=1)
        reason = text(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise invalid("reason", f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}")
        meta = metadata(params) or {}
        with self.change():
            if charge_id is None and intent_id is None:
                raise StripeError("One of the following params should be provided for this "
                                  "request: payment_intent or charge.", code="parameter_missing")
            if intent_id is not None:
                intent = self._require("payment_intents", intent_id, "payment_intent")
                if intent["status"] != "succeeded" or not intent["latest_charge"]:
                    raise StripeError(f"This PaymentIntent ({intent_id}) does not have a "
                                      "successful charge to refund.",
                                      code="charge_not_refundable", param="payment_intent")
                if charge_id is not None and charge_id != intent["latest_charge"]:
                    raise invalid("charge", f"Charge {charge_id} does not belong to "
                                  f"PaymentIntent {intent_id}.")
                charge_id = intent["latest_charge"]
            assert charge_id is not None
            charge = self._require("charges", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise StripeError(f"Charge {charge_id} has not succeeded and cannot be refunded.",
                                  code="charge_not_refundable", param="charge")
            for dispute in self.disputes.values():
                if dispute["charge"] == charge_id and dispute["status"] != "won":
                    raise StripeError(f"Charge {charge_id} has been charged back; cannot issue a "
                                      "refund.", code="charge_disputed", param="charge")
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise StripeError(f"Charge {charge_id} has already been refunded.",
                                  code="charge_already_refunded", param="charge")
            if amount is None:
                amount = remaining
            elif amount > remaining:
                currency = charge["currency"]
                raise StripeError(
                    f"Refund amount ({format_amount(amount, currency)}) is greater than "
                    f"unrefunded amount on charge ({format_amount(remaining, currency)})",
                    code="amount_too_large", param="amount")
            refund = objects.refund(created=self.now(), charge=charge, amount=amount,
                                    reason=reason, metadata=meta)
            self.refunds[refund["id"]] = refund
            previous = {"amount_refunded": charge["amount_refunded"],
                        "refunded": charge["refunded"]}
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self._emit("refund.created", refund)
            self._emit("charge.refunded", charge, previous)
            return self.view(refund)

    def update_refund(self, refund_id: str, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, ("metadata",))
        with self.change():
            refund = self._require("refunds", refund_id)
            before = copy.deepcopy(refund)
            refund["metadata"] = merge_metadata(refund["metadata"], params)
            if before != refund:
                self._emit("refund.updated", refund, self._changes(before, refund))
            return self.view(refund)

    def fail_refund(self, refund_id: str) -> dict[str, Any]:
        """Control: the bank returned the money (``failed``); the charge gets it back."""
        with self.change():
            refund = self._require("refunds", refund_id)
            if refund["status"] != "succeeded":
                raise ValueError(f"refund {refund_id} is {refund['status']}, not succeeded")
            refund.update(status="failed", failure_reason="expired_or_canceled_card")
            charge = self.charges[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            self._emit("refund.updated", refund, {"status": "succeeded"})
            self._emit("charge.refund.updated", refund, {"status": "succeeded"})
            return self.view(refund)

    # -- disputes -----------------------------------------------------------------------------

    def _open_dispute(self, charge: dict[str, Any], reason: str) -> dict[str, Any]:
        dispute = objects.dispute(created=self.now(), charge=charge, reason=reason)
        self.disputes[dispute["id"]] = dispute
        charge["disputed"] = True
        self._emit("charge.dispute.created", dispute)
        return dispute

    def open_dispute(self, charge_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        """Control: the card network opens a dispute on a succeeded charge."""
        with self.change():
            charge = self._require("charges", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise ValueError(f"charge {charge_id} did not succeed")
            if any(d["charge"] == charge_id for d in self.disputes.values()):
                raise ValueError(f"charge {charge_id} already has a dispute")
            return self.view(self._open_dispute(charge, reason))

    def close_dispute(self, dispute_id: str, outcome: str) -> dict[str, Any]:
        """Control: close an open dispute as ``won`` or ``lost``."""
        if outcome not in ("won", "lost"):
            raise ValueError("outcome must be 'won' or 'lost'")
        with self.change():
            dispute = self._require("disputes", dispute_id)
            if dispute["status"] in ("won", "lost"):
                raise ValueError(f"dispute {dispute_id} is already {dispute['status']}")
            previous = {"status": dispute["status"]}
            dispute["status"] = outcome
            dispute["evidence_details"]["has_evidence"] = True
            self._emit("charge.dispute.closed", dispute, previous)
            return self.view(dispute)

    # -- webhook endpoints --------------------------------------------------------------------

    ENDPOINT_PARAMS = ("url", "enabled_events", "description", "metadata", "api_version",
                       "connect")

    def create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/webhook_endpoints``; the answer is the only one showing ``secret``."""
        check_known(params, self.ENDPOINT_PARAMS)
        url = self._url(params, "url", required=True)
        events = self._enabled_events(params, required=True)
        assert url is not None and events is not None
        with self.change():
            endpoint = objects.webhook_endpoint(
                created=self.now(), url=url, enabled_events=events,
                description=text(params, "description"), metadata=metadata(params) or {},
                api_version=text(params, "api_version"), secret=new_webhook_secret())
            self.webhook_endpoints[endpoint["id"]] = endpoint
            return copy.deepcopy(endpoint)

    @staticmethod
    def _enabled_events(params: dict[str, Any], required: bool) -> list[str] | None:
        events = params.get("enabled_events")
        if events is None:
            if required:
                raise missing("enabled_events")
            return None
        if isinstance(events, str):
            events = [events]
        if not isinstance(events, list) or not events:
            raise invalid("enabled_events", "Invalid array")
        for index, name in enumerate(events):
            if not isinstance(name, str) or not _EVENT_TYPE.match(name):
                raise invalid(f"enabled_events[{index}]",
                              f"Invalid enabled_events[{index}]: {name!r} is not an event type")
        return list(events)

    def add_endpoint(self, url: str, secret: str | None = None,
                     enabled_events: list[str] | None = None, configured: bool = False
                     ) -> dict[str, Any]:
        """Register an endpoint with a known secret (command line, control API).

        The same URL and secret again returns the existing endpoint (restarts with
        ``--data-dir`` do not duplicate it).
        """
        secret = secret or new_webhook_secret()
        if not secret.startswith("whsec_"):
            raise ValueError("a webhook secret starts with whsec_")
        events = self._enabled_events({"enabled_events": enabled_events or ["*"]}, True)
        assert events is not None
        with self.change():
            for endpoint in self.webhook_endpoints.values():
                if endpoint["url"] == url and endpoint["secret"] == secret:
                    endpoint["enabled_events"] = events
                    break
            else:
                endpoint = objects.webhook_endpoint(
                    created=self.now(), url=url, enabled_events=events, description=None,
                    metadata={}, api_version=None, secret=secret)
                self.webhook_endpoints[endpoint["id"]] = endpoint
            if configured:
                self.configured_endpoints.add(endpoint["id"])
            return copy.deepcopy(endpoint)

    def update_endpoint(self, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, ("url", "enabled_events", "description", "metadata", "disabled"))
        with self.change():
            endpoint = self._require("webhook_endpoints", endpoint_id)
            url = self._url(params, "url")
            events = self._enabled_events(params, required=False)
            disabled = text(params, "disabled")
            if disabled not in (None, "true", "false"):
                raise invalid("disabled", f"Invalid boolean: {disabled}",
                              "parameter_invalid_boolean")
            if url is not None:
                endpoint["url"] = url
            if events is not None:
                endpoint["enabled_events"] = events
            if "description" in params:
                endpoint["description"] = text(params, "description")
            endpoint["metadata"] = merge_metadata(endpoint["metadata"], params)
            if disabled is not None:
                endpoint["status"] = "disabled" if disabled == "true" else "enabled"
            return self.view(endpoint)

    def delete_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        with self.change():
            self._require("webhook_endpoints", endpoint_id)
            del self.webhook_endpoints[endpoint_id]
            self.configured_endpoints.discard(endpoint_id)
            return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    # -- the rest of the control API ----------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, event, delivery and control; keep start-up endpoints."""
        with self.change():
            kept = {key: value for key, value in self.webhook_endpoints.items()
                    if key in self.configured_endpoints}
            for name in self._COLLECTIONS:
                getattr(self, name).clear()
            self.webhook_endpoints.update(kept)
            self.in_flight.clear()
            self.clock.reset()
            self.webhooks.reset()

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"now": self.now(), "clock_offset": self.clock.offset,
                    **{name: len(getattr(self, name)) for name in
                       ("sessions", "payment_intents", "charges", "refunds", "disputes",
                        "events", "webhook_endpoints")}}
