"""The :class:`Emulator`: state, blobs, faults and settings behind one object.

It is what the control API (``/__emulator__/...``) calls, and what tests call
in-process: ``app.extensions["dropbox_emulator"]``.
"""

from __future__ import annotations

import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .blobs import BlobStore
from .faults import Fault, FaultBook, Latency, Stats, WriteGate
from .filesystem import Node
from .ids import utcnow
from .state import ALL_SCOPES, Account, App, Store
from .tokens import IssuedTokens, expire_now, issue_tokens, unlink

MiB = 1024 * 1024


@dataclass
class Settings:
    """Tunables; all can be passed to :func:`dropbox_emulator.create_app`."""

    #: Lifetime of access tokens in seconds (Dropbox: 4 h).
    token_ttl: float = 14_400
    #: Lifetime of authorization codes in seconds.
    code_ttl: float = 600
    #: Concurrent writes allowed per namespace before 429 ``too_many_write_operations``.
    max_concurrent_writes: int = 4
    #: Largest body accepted by one upload-style request.
    max_request_bytes: int = 150 * MiB
    #: Most entries below a folder that ``copy_reference/save`` will copy.
    max_copy_entries: int = 10_000
    #: Seconds a save_url download may take.
    save_url_timeout: float = 900
    #: Whether ``move_batch_v2``/``copy_batch_v2``/``delete_batch`` answer ``async_job_id``
    #: (``True``) or ``complete`` straight away (``False``).
    batch_async: bool = True
    #: How many checks of an async batch answer ``in_progress`` before ``complete``.
    batch_in_progress_checks: int = 0


class UnknownError(LookupError):
    """An unknown app, account or object was named."""


class Emulator:
    """One emulated Dropbox.

    :param data_dir: persist metadata (``state.json``) and blobs here; ``None`` keeps
        metadata in memory and blobs in a temporary directory removed by :meth:`close`.
    :param http_session_factory: makes the ``requests`` session save_url downloads use.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        settings: Settings | None = None,
        latency_ms: float = 0.0,
        http_session_factory: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        self.settings = settings or Settings()
        if data_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="dropbox-emulator-")
            root = Path(self._temp.name)
            state_file = None
        else:
            self._temp = None
            root = Path(data_dir)
            root.mkdir(parents=True, exist_ok=True)
            state_file = root / "state.json"
        self.root = root
        self.store = Store(state_file)
        self.blobs = BlobStore(root)
        self.faults = FaultBook()
        self.latency = Latency(latency_ms)
        self.gate = WriteGate(self.settings.max_concurrent_writes)
        self.stats = Stats()
        self.http_session_factory = http_session_factory
        if self._temp is not None:
            weakref.finalize(self, self._temp.cleanup)

    def close(self) -> None:
        """Remove the temporary blob directory (memory mode only)."""
        if self._temp is not None:
            self._temp.cleanup()

    # -- apps, accounts, tokens ------------------------------------------------------------

    def add_app(self, key: str, secret: str, name: str | None = None, *,
                access: str = "app_folder", scopes: list[str] | None = None,
                redirect_uris: list[str] | None = None) -> App:
        """Register (or replace) an app; ``name`` (default: the key) names ``/Apps/<name>``."""
        if access not in ("app_folder", "full"):
            raise ValueError("access must be 'app_folder' or 'full'")
        unknown = set(scopes or ()) - set(ALL_SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        app = App(key, secret, name or key, access, list(scopes or ALL_SCOPES),
                  list(redirect_uris or ()))
        return self.store.add_app(app)

    def app(self, key: str) -> App:
        with self.store.lock:
            found = self.store.apps.get(key)
        if found is None:
            raise UnknownError(f"unknown app key {key!r}")
        return found

    def create_account(self, email: str) -> Account:
        """Create the account for ``email`` (idempotent)."""
        if "@" not in email or len(email) > 254:
            raise ValueError("email must look like an email address")
        return self.store.ensure_account(email)

    def account(self, email: str) -> Account:
        with self.store.lock:
            found = self.store.account_by_email(email)
        if found is None:
            raise UnknownError(f"unknown account {email!r}")
        return found

    def issue_tokens(self, app_key: str, email: str, scopes: list[str] | None = None,
                     offline: bool = True) -> IssuedTokens:
        """Link ``app_key`` to ``email``'s account (created if needed) and mint tokens."""
        app = self.app(app_key)
        granted = list(scopes) if scopes is not None else list(app.scopes)
        if not set(granted) <= set(app.scopes):
            raise ValueError("scopes beyond the app's permissions")
        account = self.create_account(email)
        return issue_tokens(self.store, account, app, granted, offline=offline,
                            ttl=self.settings.token_ttl)

    def expire_access_tokens(self, access_token: str | None = None, email: str | None = None,
                             app_key: str | None = None) -> int:
        """Expire one access token now, or all of ``email``'s (optionally for one app)."""
        if access_token is None and email is None:
            raise ValueError("give access_token or email")
        account_id = self.account(email).account_id if email is not None else None
        return expire_now(self.store, access_token, account_id, app_key)

    def unlink(self, email: str, app_key: str) -> int:
        """Unlink an app from an account; returns the number of tokens revoked."""
        return unlink(self.store, self.account(email).account_id, self.app(app_key).key)

    def expire_copy_reference(self, reference: str) -> None:
        with self.store.transaction():
            found = self.store.copy_references.get(reference)
            if found is None:
                raise UnknownError("unknown copy reference")
            found.expired = True

    # -- space -----------------------------------------------------------------------------

    def space_usage(self, email: str) -> dict[str, int]:
        """``{"allocated": bytes, "used": bytes}`` for an account (all apps' files)."""
        account = self.account(email)
        with self.store.lock:
            return {"allocated": account.allocated, "used": account.namespace.used}

    def set_space_allocation(self, email: str, allocated: int) -> dict[str, int]:
        """Set an account's space allocation in bytes; returns :meth:`space_usage`.

        Lowering it below what is used only refuses further writes that add bytes.
        """
        if not isinstance(allocated, int) or isinstance(allocated, bool) or not (
                0 <= allocated < 2**64):
            raise ValueError("'allocated' must be a non-negative integer (bytes)")
        account = self.account(email)
        with self.store.transaction():
            account.allocated = allocated
        return self.space_usage(email)

    def set_batch_mode(self, asynchronous: bool = True, in_progress_checks: int = 0) -> None:
        """Choose how batch routes answer: ``complete`` at once (``asynchronous=False``), or
        an ``async_job_id`` whose first ``in_progress_checks`` checks say ``in_progress``."""
        if not isinstance(asynchronous, bool):
            raise ValueError("'batch_async' must be a boolean")
        if not isinstance(in_progress_checks, int) or isinstance(in_progress_checks, bool) or (
                in_progress_checks < 0):
            raise ValueError("'batch_in_progress_checks' must be a non-negative integer")
        self.settings.batch_async = asynchronous
        self.settings.batch_in_progress_checks = in_progress_checks

    # -- files -----------------------------------------------------------------------------

    def list_files(self, email: str, app_key: str) -> list[dict[str, Any]]:
        """Every file in the account's app folder: ``path_display``, ``size``, ``content_hash``."""
        account, app = self.account(email), self.app(app_key)
        with self.store.lock:
            root = account.namespace.get(app.root) if app.root else None
            if app.root and root is None:
                return []
            nodes = account.namespace.subtree(app.root.lower())
        return [
            {"path_display": n.path_display[len(app.root):], "size": n.size,
             "content_hash": n.content_hash}
            for n in nodes if n.is_file
        ]

    def seed_file(self, email: str, app_key: str, path: str, data: bytes) -> Node:
        """Put a small file straight into an app folder (test and demo set-up; overwrites)."""
        account, app = self.account(email), self.app(app_key)
        content_hash = self.blobs.put_bytes(data)
        with self.store.transaction():
            return account.namespace.write_file(
                app.root + path, size=len(data), content_hash=content_hash, now=utcnow(),
                mode="overwrite")

    # -- faults and realism ----------------------------------------------------------------

    def add_fault(self, spec: dict[str, Any]) -> Fault:
        """Arm a fault; see :meth:`~.faults.FaultBook.add` for ``spec``."""
        return self.faults.add(spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_latency(self, ms: float, route: str | None = None) -> None:
        """Add ``ms`` per call, for every route or (``route``) one route."""
        if route is None:
            self.latency.global_ms = ms
        else:
            self.latency.per_route[route] = ms

    def set_max_concurrent_writes(self, limit: int) -> None:
        self.gate.limit = limit

    def sleep_for(self, route: str) -> None:
        delay = self.latency.seconds_for(route)
        if delay > 0:
            time.sleep(delay)
