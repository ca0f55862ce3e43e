"""Calls to Dropbox during a delivery: the retry policy, and what Dropbox's answers mean.

Every call goes through :meth:`Run.call`: rate limits are waited out as Dropbox asks, 5xx
and network errors get bounded retries, and whatever cannot be retried becomes one of the
exceptions below. :func:`save_error` is the one place that reads a refused save.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import dropbox
import requests
from dropbox import files as dbx_files
from dropbox.exceptions import AuthError, BadInputError, HttpError, InternalServerError, RateLimitError

from shop.dropbox.claims import Claim
from shop.dropbox.client import store_client

T = TypeVar("T")

MAX_SERVER_ERROR_RETRIES = 4
MAX_RATE_LIMIT_WAIT = 15 * 60  # seconds of waiting on 429s for one call before giving up on it

SaveError = Literal["conflict", "no_space", "dead_reference"]


class NeedsReconnect(Exception):
    """The buyer's token no longer works: only the buyer can fix it."""


class FileFailed(Exception):
    """This file cannot be delivered now; the others go on."""


class NeedsSpace(Exception):
    """The buyer's Dropbox is full: only the buyer can make room."""


def save_error(error: Any) -> SaveError | None:
    """What a refused save means: the name is taken, the Dropbox is full, or the copy reference
    is dead (mint it again); None for anything else.

    :param error: the error union of a ``copy_reference/save`` or ``save_url`` (also the
        failure of a ``save_url`` job), as the SDK decodes it.
    """
    if error.is_path():
        path = error.get_path()
        if path.is_conflict():
            return "conflict"
        if path.is_insufficient_space():
            return "no_space"
    if isinstance(error, dbx_files.SaveCopyReferenceError) and (
            error.is_invalid_copy_reference() or error.is_no_permission() or error.is_not_found()):
        return "dead_reference"
    return None


@dataclass
class Run:
    """What the delivery paths need of a running delivery: its id, the buyer's client, the
    claim (to hold it, and to wait while holding it) and the store's client for re-minting."""

    delivery_id: int
    dbx: dropbox.Dropbox
    claim: Claim
    _store: dropbox.Dropbox | None = field(default=None, repr=False)

    def store(self) -> dropbox.Dropbox:
        if self._store is None:
            self._store = store_client()
        return self._store

    def call(self, fn: Callable[[], T], store: bool = False) -> T:
        """Run one API call with our retry policy.

        429: wait ``Retry-After`` (or back off) and go on, up to a total wait.
        5xx and network errors: bounded retries with jittered backoff.
        Auth errors on the buyer's client: :class:`NeedsReconnect`.
        """
        waited = 0.0
        server_errors = 0
        while True:
            try:
                return fn()
            except RateLimitError as exc:
                pause = float(exc.backoff) if exc.backoff else min(2 ** min(server_errors + 1, 6), 60)
                if waited + pause > MAX_RATE_LIMIT_WAIT:
                    raise FileFailed("Dropbox kept asking us to slow down") from exc
                waited += pause
                self.claim.wait(pause)
            except (InternalServerError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                server_errors += 1
                if server_errors > MAX_SERVER_ERROR_RETRIES:
                    raise FileFailed(f"Dropbox is having trouble ({type(exc).__name__})") from exc
                self.claim.wait(min(2 ** server_errors, 30) * (0.5 + random.random() / 2))
            except AuthError as exc:
                if store:
                    raise FileFailed("the store's Dropbox link is broken: run `flask dropbox link-store`") from exc
                raise NeedsReconnect() from exc
            except BadInputError as exc:
                raise FileFailed(f"Dropbox refused the request ({exc.message[:200]})") from exc
            except HttpError as exc:
                raise FileFailed(f"unexpected answer from Dropbox ({exc.status_code})") from exc
