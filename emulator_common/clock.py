"""A wall clock with an offset, so tests can make time pass without sleeping."""

from __future__ import annotations

import threading
import time


class Clock:
    """Unix time plus :attr:`offset` seconds; :meth:`advance` only ever moves it forward."""

    def __init__(self, offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def timestamp(self) -> int:
        """Whole seconds, as APIs put ``created`` on the wire."""
        return int(self.now())

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0); returns the new offset."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self.offset += seconds
            return self.offset

    def reset(self) -> None:
        with self._lock:
            self.offset = 0.0
