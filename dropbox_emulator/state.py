"""Everything the emulator knows, behind one lock, optionally persisted as JSON.

:class:`Store` owns apps, accounts (each with its :class:`~.filesystem.Namespace`),
app links, tokens, OAuth codes, copy references, upload sessions, save_url
jobs and batch jobs. Callers take :attr:`Store.lock` (re-entrant) around reads and use
:meth:`Store.transaction` around writes, which persists on exit when a data
directory is configured. Nothing here streams bytes, so the lock is only ever
held for metadata work. Codes, upload sessions, save_url jobs and batch jobs
are deliberately not persisted: they are short-lived.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from emulator_common import JsonStateFile

from .contenthash import ContentHasher
from .filesystem import Namespace
from .ids import format_timestamp, new_account_id, parse_timestamp

#: Space allocated to a new account, in bytes (Dropbox Basic: 2 GiB).
DEFAULT_ALLOCATION = 2 * 1024**3

ALL_SCOPES = (
    "account_info.read",
    "account_info.write",
    "files.metadata.read",
    "files.metadata.write",
    "files.content.read",
    "files.content.write",
    "sharing.read",
    "sharing.write",
    "file_requests.read",
    "file_requests.write",
    "contacts.read",
    "contacts.write",
)


@dataclass
class App:
    """A registered API app; ``access`` is ``app_folder`` or ``full``."""

    key: str
    secret: str
    name: str
    access: str = "app_folder"
    scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    redirect_uris: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        """Namespace path that the app's ``/`` maps to (``""`` for full Dropbox)."""
        return f"/Apps/{self.name}" if self.access == "app_folder" else ""


@dataclass
class Account:
    account_id: str
    uid: str
    email: str
    namespace: Namespace = field(default_factory=Namespace)
    #: Space allocation in bytes; writes that would take usage past it fail.
    allocated: int = DEFAULT_ALLOCATION

    @property
    def given_name(self) -> str:
        return self.email.split("@")[0].split(".")[0].title() or "User"

    @property
    def surname(self) -> str:
        parts = self.email.split("@")[0].split(".")[1:]
        return " ".join(part.title() for part in parts)


@dataclass
class AccessToken:
    token: str
    account_id: str
    app_key: str
    scopes: list[str]
    expires_at: datetime
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    account_id: str
    app_key: str
    scopes: list[str]
    pkce: bool = False
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    app_key: str
    account_id: str
    redirect_uri: str | None
    scopes: list[str]
    offline: bool
    expires_at: datetime
    code_challenge: str | None = None
    code_challenge_method: str | None = None


@dataclass
class CopyReference:
    reference: str
    account_id: str
    app_key: str
    node_id: str
    expired: bool = False


@dataclass
class UploadSession:
    """An upload session spooling into ``path``; ``guard`` serialises its appends."""

    session_id: str
    account_id: str
    app_key: str
    path: Path
    offset: int = 0
    closed: bool = False
    hasher: ContentHasher = field(default_factory=ContentHasher)
    guard: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class SaveUrlJob:
    job_id: str
    account_id: str
    status: dict[str, Any] = field(default_factory=lambda: {".tag": "in_progress"})


@dataclass
class BatchJob:
    """A finished batch (``move_batch``, ``copy_batch`` or ``delete_batch``).

    The work is done when the batch is launched; ``checks_left`` more checks answer
    ``in_progress`` before ``result`` is reported.
    """

    job_id: str
    account_id: str
    kind: str
    result: dict[str, Any]
    checks_left: int = 0


class Store:
    """The emulator's state; see the module docstring for the locking contract."""

    def __init__(self, state_file: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = state_file
        self.apps: dict[str, App] = {}
        self.accounts: dict[str, Account] = {}
        self.emails: dict[str, str] = {}
        #: ``(account_id, app_key)`` -> scopes granted so far.
        self.links: dict[tuple[str, str], set[str]] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.copy_references: dict[str, CopyReference] = {}
        self.sessions: dict[str, UploadSession] = {}
        self.jobs: dict[str, SaveUrlJob] = {}
        self.batch_jobs: dict[str, BatchJob] = {}
        self._next_uid = 1_000_001
        if state_file is not None and state_file.exists():
            self._load(json.loads(state_file.read_text("utf-8")))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock for a change and persist it afterwards (even if it raised midway)."""
        with self.lock:
            try:
                yield
            finally:
                self.save()

    # -- accounts and apps -----------------------------------------------------------------

    def account_by_email(self, email: str) -> Account | None:
        account_id = self.emails.get(email.strip().lower())
        return self.accounts[account_id] if account_id else None

    def ensure_account(self, email: str) -> Account:
        """Return the account for ``email``, creating it (idempotent, case-insensitive)."""
        with self.transaction():
            existing = self.account_by_email(email)
            if existing is not None:
                return existing
            account = Account(new_account_id(), str(self._next_uid), email.strip())
            self._next_uid += 1
            self.accounts[account.account_id] = account
            self.emails[email.strip().lower()] = account.account_id
            return account

    def add_app(self, app: App) -> App:
        with self.transaction():
            self.apps[app.key] = app
            return app

    def is_linked(self, account_id: str, app_key: str) -> bool:
        return (account_id, app_key) in self.links

    # -- persistence -----------------------------------------------------------------------

    def save(self) -> None:
        if self.state_file is None:
            return
        with self.lock:
            data = self._dump()
        JsonStateFile(self.state_file).save(data)

    def _dump(self) -> dict[str, Any]:
        return {
            "next_uid": self._next_uid,
            "apps": [asdict(app) for app in self.apps.values()],
            "accounts": [
                {"account_id": a.account_id, "uid": a.uid, "email": a.email,
                 "allocated": a.allocated, "namespace": a.namespace.to_json()}
                for a in self.accounts.values()
            ],
            "links": [[a, k, sorted(s)] for (a, k), s in self.links.items()],
            "access_tokens": [
                {**asdict(t), "expires_at": format_timestamp(t.expires_at)}
                for t in self.access_tokens.values()
            ],
            "refresh_tokens": [asdict(t) for t in self.refresh_tokens.values()],
            "copy_references": [asdict(r) for r in self.copy_references.values()],
        }

    def _load(self, data: dict[str, Any]) -> None:
        self._next_uid = data["next_uid"]
        for raw in data["apps"]:
            self.apps[raw["key"]] = App(**raw)
        for raw in data["accounts"]:
            account = Account(raw["account_id"], raw["uid"], raw["email"],
                              Namespace.from_json(raw["namespace"]),
                              raw.get("allocated", DEFAULT_ALLOCATION))
            self.accounts[account.account_id] = account
            self.emails[account.email.lower()] = account.account_id
        for account_id, app_key, scopes in data["links"]:
            self.links[(account_id, app_key)] = set(scopes)
        for raw in data["access_tokens"]:
            token = AccessToken(**{**raw, "expires_at": parse_timestamp(raw["expires_at"])})
            self.access_tokens[token.token] = token
        for raw in data["refresh_tokens"]:
            self.refresh_tokens[raw["token"]] = RefreshToken(**raw)
        for raw in data["copy_references"]:
            self.copy_references[raw["reference"]] = CopyReference(**raw)
