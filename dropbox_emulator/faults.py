"""Faults and realism on demand: canned error responses, latency, a write limit.

A :class:`Fault` answers the next ``count`` calls of one route (or ``"*"``, any
API route) for one account email (or any) instead of the real handler. The
:class:`WriteGate` counts in-flight writes per namespace and refuses those over
the limit with 429 ``too_many_write_operations``, as Dropbox does.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask import Response

from .wire import rate_limit_response, text_response

KINDS = (
    "too_many_requests",
    "too_many_write_operations",
    "too_many_requests_text",
    "internal_server_error",
    "service_unavailable",
)
_STATUS_KINDS = {429: "too_many_requests", 500: "internal_server_error",
                 503: "service_unavailable"}


class FaultSpecError(ValueError):
    """A fault description that cannot be honoured."""


@dataclass
class Fault:
    """One armed fault; see :meth:`FaultBook.add` for the fields."""

    id: int
    kind: str
    route: str = "*"
    email: str | None = None
    remaining: int = 1
    retry_after: int = 1

    def matches(self, route: str, email: str | None) -> bool:
        route_ok = self.route == route or (self.route == "*" and route != "oauth2/token")
        email_ok = self.email is None or (email is not None and self.email == email.lower())
        return route_ok and email_ok

    def response(self) -> Response:
        if self.kind == "too_many_requests":
            return rate_limit_response("too_many_requests", self.retry_after)
        if self.kind == "too_many_write_operations":
            return rate_limit_response("too_many_write_operations", None)
        if self.kind == "too_many_requests_text":
            return text_response("Too many requests", 429, {"Retry-After": str(self.retry_after)})
        if self.kind == "internal_server_error":
            return text_response("Internal Server Error (injected by dropbox_emulator)", 500)
        return text_response("Service Unavailable (injected by dropbox_emulator)", 503)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "route": self.route, "email": self.email,
                "remaining": self.remaining, "retry_after": self.retry_after}


class FaultBook:
    """Armed faults, consumed first-added first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict[str, Any]) -> Fault:
        """Arm a fault from ``spec``.

        ``kind`` is one of :data:`KINDS` (or give ``status`` 429/500/503 instead); optional
        ``route`` (default ``"*"``: every API route but ``oauth2/token``), ``email``,
        ``count`` (default 1) and ``retry_after`` seconds (default 1).

        :raises FaultSpecError: for an unknown kind or a bad count.
        """
        kind = spec.get("kind") or _STATUS_KINDS.get(spec.get("status"))  # type: ignore[arg-type]
        if kind not in KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(KINDS)} (or status 429/500/503)")
        count = spec.get("count", 1)
        retry_after = spec.get("retry_after", 1)
        if not isinstance(count, int) or count < 1:
            raise FaultSpecError("count must be a positive integer")
        if not isinstance(retry_after, int) or retry_after < 0:
            raise FaultSpecError("retry_after must be a non-negative integer")
        email = spec.get("email")
        with self._lock:
            fault = Fault(next(self._ids), kind, str(spec.get("route") or "*"),
                          email.lower() if email else None, count, retry_after)
            self._faults.append(fault)
            return fault

    def take(self, route: str, email: str | None) -> Fault | None:
        """Consume one use of the first fault matching this call, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(route, email):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]


@dataclass
class Latency:
    """Added delay per call, in milliseconds: a global value and per-route overrides."""

    global_ms: float = 0.0
    per_route: dict[str, float] = field(default_factory=dict)

    def seconds_for(self, route: str) -> float:
        return self.per_route.get(route, self.global_ms) / 1000.0

    def as_json(self) -> dict[str, Any]:
        return {"ms": self.global_ms, "routes": dict(self.per_route)}


class WriteGate:
    """Counts concurrent writes per namespace; ``limit`` 0 means unlimited."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = defaultdict(int)

    def enter(self, namespace: str) -> bool:
        """Take a slot; ``False`` (and no slot) when the namespace is at its limit."""
        with self._lock:
            if self.limit and self._in_flight[namespace] >= self.limit:
                return False
            self._in_flight[namespace] += 1
            return True

    def leave(self, namespace: str) -> None:
        with self._lock:
            self._in_flight[namespace] -= 1


class Stats:
    """Call counts per route and per account, and bytes received by upload routes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: dict[str, int] = defaultdict(int)
            self._by_account: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            self._bytes: dict[str, int] = defaultdict(int)

    def record_call(self, route: str, email: str | None) -> None:
        with self._lock:
            self._calls[route] += 1
            if email is not None:
                self._by_account[email][route] += 1

    def record_bytes(self, email: str, count: int) -> None:
        with self._lock:
            self._bytes[email] += count

    def as_json(self) -> dict[str, Any]:
        """``{"calls": {route: n}, "accounts": {email: {"calls": {route: n}, "calls_total": n,
        "bytes_uploaded": n}}, "calls_total": n, "bytes_uploaded_total": n}``."""
        with self._lock:
            emails = set(self._by_account) | set(self._bytes)
            accounts = {
                email: {
                    "calls": dict(self._by_account.get(email, {})),
                    "calls_total": sum(self._by_account.get(email, {}).values()),
                    "bytes_uploaded": self._bytes.get(email, 0),
                }
                for email in sorted(emails)
            }
            return {
                "calls": dict(self._calls),
                "calls_total": sum(self._calls.values()),
                "accounts": accounts,
                "bytes_uploaded_total": sum(self._bytes.values()),
            }

