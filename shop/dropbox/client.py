"""Building Dropbox SDK objects for the store's account and for buyers.

The only difference between real Dropbox and the emulator is the HTTP session handed to
the SDK: with ``DROPBOX_API_URL`` set, a session that rewrites Dropbox's hosts to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dropbox
import requests
from flask import Flask, current_app

from shop.crypto import get_token_box
from shop.dropbox.models import DropboxConnection, StoreDropboxAccount
from shop.extensions import db

# What the store asks buyers for: who they are (to show it), and writing into its app folder.
BUYER_SCOPES = ["account_info.read", "files.metadata.read", "files.content.write"]
STORE_SCOPES = ["account_info.read", "files.metadata.read", "files.content.write", "files.content.read"]

DROPBOX_API_PREFIXES = (
    "https://api.dropboxapi.com",
    "https://content.dropboxapi.com",
    "https://notify.dropboxapi.com",
)
DROPBOX_WEB_PREFIX = "https://www.dropbox.com"


class DropboxNotConfigured(RuntimeError):
    pass


class RedirectingSession(requests.Session):
    """A requests session that sends Dropbox API calls to another base URL (the emulator)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        for prefix in DROPBOX_API_PREFIXES:
            if isinstance(url, str) and url.startswith(prefix + "/"):
                url = self.base_url + url[len(prefix):]
                break
        return super().request(method, url, *args, **kwargs)


def http_session(app: Flask | None = None) -> requests.Session:
    """One pooled session per app: real Dropbox, or the emulator named by ``DROPBOX_API_URL``."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    session = app.extensions.get("shop.dropbox_session")
    if session is None:
        base = app.config.get("DROPBOX_API_URL")
        session = RedirectingSession(base) if base else dropbox.create_session()
        app.extensions["shop.dropbox_session"] = session
    return session


def web_url(url: str) -> str:
    """Rewrite a www.dropbox.com URL (the OAuth consent page) for the emulator, if any."""
    base = current_app.config.get("DROPBOX_API_URL")
    if base and url.startswith(DROPBOX_WEB_PREFIX):
        return str(base).rstrip("/") + url[len(DROPBOX_WEB_PREFIX):]
    return url


def app_credentials() -> tuple[str, str]:
    key = current_app.config.get("DROPBOX_APP_KEY")
    secret = current_app.config.get("DROPBOX_APP_SECRET")
    if not key or not secret:
        raise DropboxNotConfigured("SHOP_DROPBOX_APP_KEY and SHOP_DROPBOX_APP_SECRET are not set")
    return key, secret


def _naive_utc(value: datetime | None) -> datetime | None:
    # The SDK compares against datetime.utcnow(), so it needs naive UTC.
    return value.astimezone(UTC).replace(tzinfo=None) if value else None


def dropbox_timeout() -> float:
    """Seconds one Dropbox API call may take (``DROPBOX_TIMEOUT``, declared in the settings)."""
    return float(current_app.config.get("DROPBOX_TIMEOUT", 30))


def make_client(refresh_token: str, access_token: str | None = None,
                access_expires_at: datetime | None = None, timeout: float | None = None) -> dropbox.Dropbox:
    """An SDK client that refreshes its own access token.

    The SDK's own retries are off: the delivery job retries with its own policy, so it can
    keep its heartbeat and progress up to date while it waits.

    :param timeout: seconds per call; :func:`dropbox_timeout` by default.
    """
    key, secret = app_credentials()
    return dropbox.Dropbox(
        oauth2_access_token=access_token,
        oauth2_access_token_expiration=_naive_utc(access_expires_at) if access_token else None,
        oauth2_refresh_token=refresh_token,
        app_key=key,
        app_secret=secret,
        session=http_session(),
        max_retries_on_error=0,
        max_retries_on_rate_limit=0,
        timeout=timeout if timeout is not None else dropbox_timeout(),
        user_agent="IndiePacks/1.0",
    )


def held_token(dbx: dropbox.Dropbox) -> tuple[str | None, datetime | None]:
    """The access token the client holds now and its expiry (naive UTC, as the SDK keeps it).

    The SDK refreshes its token in memory and keeps it in private attributes; this is the one
    place that reads them, so an SDK upgrade that renames them is fixed here."""
    return dbx._oauth2_access_token, dbx._oauth2_access_token_expiration


def buyer_client(connection: DropboxConnection, timeout: float | None = None) -> dropbox.Dropbox:
    box = get_token_box()
    access = box.decrypt(connection.access_token_enc) if connection.access_token_enc else None
    return make_client(box.decrypt(connection.refresh_token_enc), access, connection.access_token_expires_at,
                       timeout=timeout)


def store_refresh_token() -> str:
    """The store account's refresh token: the setting, else the row `link-store` wrote.

    :raises DropboxNotConfigured: when the store's Dropbox is not linked.
    """
    token = current_app.config.get("DROPBOX_STORE_REFRESH_TOKEN")
    if token:
        return str(token)
    account = db.session.get(StoreDropboxAccount, 1)
    if account is None:
        raise DropboxNotConfigured(
            "the store's Dropbox is not linked: run `flask dropbox link-store` "
            "or set SHOP_DROPBOX_STORE_REFRESH_TOKEN"
        )
    return get_token_box().decrypt(account.refresh_token_enc)


def store_client() -> dropbox.Dropbox:
    return make_client(store_refresh_token())
