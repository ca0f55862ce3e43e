"""The emulator's state and what every resource family shares: the lock, persistence, reads,
the clock and the events each change emits.

Objects are kept as the JSON dicts Stripe puts on the wire, behind one re-entrant lock,
and saved to ``state.json`` after every change when a data directory is configured. No
Flask request object is used here: the API, the hosted page and the control API all call
the same methods.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator_common import Clock, JsonStateFile

from . import objects, payment_objects, versions
from .webhooks import Dispatcher, DispatchSettings
from .wire import metadata, no_such

DEFAULT_API_VERSION = "2026-10-28.endive"

#: ``(request id, idempotency key)`` of the API request being handled, for ``event.request``.
current_request: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "stripe_emulator_request", default=(None, None))


@dataclass
class Settings:
    """Tunables; ``api_keys`` empty means any ``sk_test_`` key is accepted."""

    api_keys: tuple[str, ...] = ()
    api_version: str = DEFAULT_API_VERSION
    public_url: str | None = None
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    #: Seconds (emulator clock) before a delayed payment (SEPA Debit) succeeds or fails.
    async_delay: float = 3.0
    #: Seconds (emulator clock) before a charge's funds become available (Stripe: about two
    #: days); ``0`` makes every charge available at once.
    funds_pending: float = 2 * 86_400.0


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


class EmulatorCore:
    """All state behind :attr:`lock`; :meth:`close` stops the webhook thread.

    The operations live in one mixin per resource family (:mod:`.sessions`,
    :mod:`.paying`, :mod:`.refunds`, :mod:`.disputes`, :mod:`.endpoints`); this class holds
    the state, persistence, reads and events they share.

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
        "pm_": ("payment_methods", "payment_method"),
        "txn_": ("balance_transactions", "balance_transaction"),
        "acct_": ("accounts", "account"),
        "tr_": ("transfers", "transfer"),
        "trr_": ("transfer_reversals", "transfer_reversal"),
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
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.balance_transactions: dict[str, dict[str, Any]] = {}
        #: Connect: Express accounts, transfers from the platform and their reversals.
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.transfer_reversals: dict[str, dict[str, Any]] = {}
        #: Account Link token -> the link's account, URLs, expiry and whether it was used.
        self.account_links: dict[str, dict[str, Any]] = {}
        #: balance transaction id -> the connected account whose balance it moves (the
        #: platform's own transactions are not in it).
        self.transaction_accounts: dict[str, str] = {}
        #: ids of webhook endpoints made with ``connect=true`` (events on connected accounts).
        self.connect_endpoints: dict[str, bool] = {}
        #: PaymentIntent id -> when (emulator clock) and how a delayed payment settles.
        self.settlements: dict[str, dict[str, Any]] = {}
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
                                   self.tick)

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
                    "webhook_endpoints", "payment_methods", "balance_transactions",
                    "settlements", "line_items", "intent_data", "idempotency", "accounts",
                    "transfers", "transfer_reversals", "account_links", "transaction_accounts",
                    "connect_endpoints")

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
                                 "url": f"/v1/charges/{served['id']}/refunds"}
        elif served.get("object") == "webhook_endpoint":
            served.pop("secret", None)
        elif served.get("object") == "balance_transaction":
            served["status"] = "available" if served["available_on"] <= self.now() else "pending"
        elif served.get("object") == "transfer":
            reversals = sorted((self.view(r) for r in self.transfer_reversals.values()
                                if r["transfer"] == served["id"]),
                               key=lambda r: r["created"], reverse=True)
            served["reversals"] = {"object": "list", "data": reversals[:10],
                                   "has_more": len(reversals) > 10,
                                   "url": f"/v1/transfers/{served['id']}/reversals"}
        return served

    def owner(self, kind: str, obj: dict[str, Any]) -> str | None:
        """The connected account an object belongs to (``None``: the platform's)."""
        if kind == "events":
            account: str | None = obj.get("account")
            return account
        if kind == "balance_transactions":
            return self.transaction_accounts.get(obj["id"])
        return None

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
              previous: dict[str, Any] | None = None, account: str | None = None
              ) -> dict[str, Any]:
        """Store an event about ``obj`` (its state now, in the account's API version) and
        queue one delivery per endpoint, rendered for the endpoint's ``api_version``.

        :param account: the connected account the event happened on: the event carries it
            and goes only to ``connect=true`` endpoints; without it, only to the others.
        """
        request_id, idempotency_key = current_request.get()
        connected = account is not None
        endpoints = [endpoint for endpoint in self.webhook_endpoints.values()
                     if endpoint["status"] == "enabled"
                     and self.connect_endpoints.get(endpoint["id"], False) == connected
                     and ("*" in endpoint["enabled_events"]
                          or event_type in endpoint["enabled_events"])]
        event = objects.event(created=self.now(), event_type=event_type, obj=self.view(obj),
                              previous=previous, api_version=self.settings.api_version,
                              request_id=request_id, idempotency_key=idempotency_key,
                              pending_webhooks=len(endpoints), account=account)
        self.events[event["id"]] = event
        payloads: dict[str, str] = {}
        targets = []
        for endpoint in endpoints:
            version = endpoint["api_version"] or self.settings.api_version
            if version not in payloads:
                shown = versions.render(event, version)
                if shown is event:
                    shown = {**event}
                shown["api_version"] = version
                # Stripe sends events pretty-printed; the signature covers these exact bytes.
                payloads[version] = json.dumps(shown, indent=2)
            targets.append((endpoint, payloads[version]))
        self.webhooks.enqueue(event, targets)
        return event

    def _delivered(self, event_id: str, endpoint_id: str) -> None:
        with self.change():
            event = self.events.get(event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    def _move_balance(self, amount: int, currency: str, kind: str, category: str, source: str,
                      fee: int = 0, fee_description: str = "Stripe processing fees",
                      description: str | None = None, available_on: int | None = None,
                      account: str | None = None) -> dict[str, Any]:
        """Record a balance transaction; returns it (stored, not a copy).

        :param available_on: when the funds become available; by default a charge's after
            :attr:`Settings.funds_pending`, anything else at once.
        :param account: the connected account whose balance moves (default: the platform's).
        """
        created = self.now()
        if available_on is None:
            available_on = created + (int(self.settings.funds_pending) if kind == "charge" else 0)
        transaction = payment_objects.balance_transaction(
            created=created, amount=amount, currency=currency, kind=kind, category=category,
            source=source, fee=fee, fee_description=fee_description, description=description,
            available_on=available_on)
        self.balance_transactions[transaction["id"]] = transaction
        if account is not None:
            self.transaction_accounts[transaction["id"]] = account
        return transaction

    @staticmethod
    def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        return {key: before[key] for key in after if before.get(key) != after[key]}

    def _require(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        found: dict[str, Any] | None = getattr(self, kind).get(object_id)
        if found is None:
            raise no_such(self._type_name(kind), object_id, param)
        return found

    # -- the rest of the control API ----------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, event, delivery and control; keep start-up endpoints."""
        with self.change():
            kept = {key: value for key, value in self.webhook_endpoints.items()
                    if key in self.configured_endpoints}
            kept_connect = {key: True for key in kept if self.connect_endpoints.get(key)}
            for name in self._COLLECTIONS:
                getattr(self, name).clear()
            self.webhook_endpoints.update(kept)
            self.connect_endpoints.update(kept_connect)
            self.in_flight.clear()
            self.clock.reset()
            self.webhooks.reset()

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {"now": self.now(), "clock_offset": self.clock.offset,
                    "async_delay": self.settings.async_delay,
                    **{name: len(getattr(self, name)) for name in
                       ("sessions", "payment_intents", "charges", "refunds", "disputes",
                        "events", "webhook_endpoints", "payment_methods",
                        "balance_transactions", "settlements", "accounts", "transfers",
                        "transfer_reversals")}}

    def tick(self) -> object:
        """What the clock makes happen (session expiry, delayed payments); the composed
        :class:`~.emulator.Emulator` fills it in."""
        raise NotImplementedError
