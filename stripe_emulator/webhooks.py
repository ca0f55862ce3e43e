"""Delivering events to webhook endpoints from a background thread, with test controls.

Each (event, endpoint) pair is a :class:`Delivery`. The thread sends the earliest due one,
signs it at send time with the emulator clock, and on a non-2xx answer, a timeout or a
refused connection schedules the next attempt ``retry_base_delay * 2 ** (attempt - 1)``
seconds later, up to ``max_attempts``. Controls change what happens to the next events:
delay them, send them twice, hold a batch and release it in reverse order, or fail
attempts without sending them. Every attempt is logged.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator_common import Clock

from .signing import signature_header

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
# Deliveries go straight to the endpoint, never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Delivery:
    event_id: str
    event_type: str
    payload: str
    endpoint_id: str
    url: str
    secret: str
    attempt: int = 1
    due: float = 0.0
    sequence: int = 0


@dataclass
class Controls:
    """What happens to the next events; ``None`` counts mean "every event from now on"."""

    delay_seconds: float = 0.0
    delay_remaining: int | None = 0
    duplicate_remaining: int = 0
    hold_remaining: int = 0
    fail_remaining: int = 0
    fail_status: int = 500

    def as_json(self) -> dict[str, Any]:
        return {"delay_seconds": self.delay_seconds, "delay_remaining": self.delay_remaining,
                "duplicate_remaining": self.duplicate_remaining,
                "hold_remaining": self.hold_remaining, "fail_remaining": self.fail_remaining,
                "fail_status": self.fail_status}


@dataclass
class DispatchSettings:
    retry_base_delay: float = 2.0
    max_attempts: int = 8
    timeout: float = 10.0
    tick_interval: float = 1.0


@dataclass
class _Queue:
    pending: list[Delivery] = field(default_factory=list)
    held: list[Delivery] = field(default_factory=list)
    in_flight: int = 0
    sequence: int = 0


class Dispatcher:
    """The delivery thread; :meth:`close` stops and joins it.

    :param on_delivered: called with ``(event_id, endpoint_id)`` after a 2xx answer.
    :param on_tick: called about every ``tick_interval`` seconds (lazy session expiry).
    """

    def __init__(self, clock: Clock, settings: DispatchSettings,
                 on_delivered: Callable[[str, str], None],
                 on_tick: Callable[[], object] | None = None) -> None:
        self.clock = clock
        self.settings = settings
        self.controls = Controls()
        self._on_delivered = on_delivered
        self._on_tick = on_tick
        self._cond = threading.Condition()
        self._queue = _Queue()
        self._log: list[dict[str, Any]] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="stripe_emulator webhooks",
                                        daemon=True)
        self._thread.start()

    # -- producing ----------------------------------------------------------------------------

    def enqueue(self, event: dict[str, Any],
                targets: list[tuple[dict[str, Any], str]]) -> None:
        """Queue the event for each ``(endpoint, payload)`` (the event's JSON as that
        endpoint's API version shows it), applying the controls."""
        if not targets:
            return
        with self._cond:
            controls = self.controls
            copies = 1
            if controls.duplicate_remaining > 0:
                controls.duplicate_remaining -= 1
                copies = 2
            delay = 0.0
            if controls.delay_seconds > 0 and controls.delay_remaining != 0:
                delay = controls.delay_seconds
                if controls.delay_remaining is not None:
                    controls.delay_remaining -= 1
            hold = controls.hold_remaining > 0
            now = time.monotonic()
            for _ in range(copies):
                for endpoint, payload in targets:
                    self._queue.sequence += 1
                    delivery = Delivery(event["id"], event["type"], payload, endpoint["id"],
                                        endpoint["url"], endpoint["secret"], due=now + delay,
                                        sequence=self._queue.sequence)
                    (self._queue.held if hold else self._queue.pending).append(delivery)
            if hold:
                controls.hold_remaining -= 1
                if controls.hold_remaining == 0:
                    self._release_locked()
            self._cond.notify_all()

    def release(self) -> int:
        """Send the held deliveries now, newest event first; returns how many."""
        with self._cond:
            count = self._release_locked()
            self.controls.hold_remaining = 0
            self._cond.notify_all()
            return count

    def _release_locked(self) -> int:
        held = self._queue.held
        self._queue.held = []
        now = time.monotonic()
        # Reverse the order by giving later events earlier due times.
        for offset, delivery in enumerate(reversed(held)):
            self._queue.sequence += 1
            delivery.due = now + offset * 1e-6
            delivery.sequence = self._queue.sequence
            self._queue.pending.append(delivery)
        return len(held)

    # -- controls and inspection --------------------------------------------------------------

    def configure(self, **changes: Any) -> Controls:
        with self._cond:
            for name, value in changes.items():
                setattr(self.controls, name, value)
            self._cond.notify_all()
            return self.controls

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(entry) for entry in self._log]

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"controls": self.controls.as_json(), "pending": len(self._queue.pending),
                    "held": len(self._queue.held), "in_flight": self._queue.in_flight,
                    "attempts_logged": len(self._log)}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is pending or being sent (held deliveries do not count)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue.pending or self._queue.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def reset(self) -> None:
        """Forget pending and held deliveries, the log and the controls."""
        with self._cond:
            self._queue.pending.clear()
            self._queue.held.clear()
            self._log.clear()
            self.controls = Controls()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=self.settings.timeout + 5)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            delivery: Delivery | None = None
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    if now >= next_tick:
                        break
                    due = min(self._queue.pending, key=lambda d: (d.due, d.sequence), default=None)
                    if due is not None and due.due <= now:
                        self._queue.pending.remove(due)
                        self._queue.in_flight += 1
                        delivery = due
                        break
                    wake = next_tick if due is None else min(next_tick, due.due)
                    self._cond.wait(max(wake - now, 0.001))
                if self._stopping:
                    return
            if delivery is None:
                next_tick = time.monotonic() + self.settings.tick_interval
                if self._on_tick is not None:
                    self._on_tick()
                continue
            try:
                self._attempt(delivery)
            finally:
                with self._cond:
                    self._queue.in_flight -= 1
                    self._cond.notify_all()

    def _attempt(self, delivery: Delivery) -> None:
        with self._cond:
            simulate = self.controls.fail_remaining > 0
            if simulate:
                self.controls.fail_remaining -= 1
                simulated_status = self.controls.fail_status
        timestamp = self.clock.timestamp()
        status: int | None = None
        error: str | None = None
        if simulate:
            status = simulated_status or None
            error = "failed by the control API" + ("" if status else " (not sent)")
        else:
            status, error = self._post(delivery, timestamp)
        ok = status is not None and 200 <= status < 300 and not simulate
        retry_in: float | None = None
        if not ok and delivery.attempt < self.settings.max_attempts:
            retry_in = self.settings.retry_base_delay * 2 ** (delivery.attempt - 1)
        entry = {"event_id": delivery.event_id, "type": delivery.event_type,
                 "endpoint": delivery.endpoint_id, "url": delivery.url,
                 "attempt": delivery.attempt, "status": status, "ok": ok, "error": error,
                 "simulated": simulate, "timestamp": timestamp, "retry_in": retry_in}
        with self._cond:
            self._log.append(entry)
            if retry_in is not None:
                self._queue.sequence += 1
                delivery.attempt += 1
                delivery.due = time.monotonic() + retry_in
                delivery.sequence = self._queue.sequence
                self._queue.pending.append(delivery)
            self._cond.notify_all()
        if ok:
            self._on_delivered(delivery.event_id, delivery.endpoint_id)

    def _post(self, delivery: Delivery, timestamp: int) -> tuple[int | None, str | None]:
        body = delivery.payload.encode()
        request = urllib.request.Request(delivery.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": signature_header(delivery.secret, timestamp, delivery.payload),
        })
        try:
            with _OPENER.open(request, timeout=self.settings.timeout) as response:
                response.read()
                return response.status, None
        except urllib.error.HTTPError as failure:
            with failure:
                failure.read()
            return failure.code, f"HTTP {failure.code}"
        except (OSError, ValueError) as failure:
            return None, f"{type(failure).__name__}: {failure}"
