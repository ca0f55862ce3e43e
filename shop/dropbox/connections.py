"""A buyer's Dropbox connection: the OAuth flow, storing tokens encrypted, revoking."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from datetime import UTC
from typing import Any

import dropbox
import requests
from dropbox.exceptions import DropboxException
from dropbox.oauth import OAuth2FlowResult
from sqlalchemy import select, update

from shop.crypto import get_token_box
from shop.dropbox.client import BUYER_SCOPES, app_credentials, buyer_client, held_token, http_session, make_client
from shop.dropbox.models import DropboxConnection
from shop.extensions import db
from shop.models import Order
from shop.urls import absolute_url

log = logging.getLogger(__name__)

CSRF_SESSION_KEY = "dropbox-auth-csrf-token"
# Revoking is best effort and runs in a web request (or a refund): never hold it for long.
REVOKE_TIMEOUT = 5.0


def oauth_flow(web_session: MutableMapping[str, Any]) -> dropbox.DropboxOAuth2Flow:
    """The web-server flow with the app secret; its CSRF token lives in the buyer's session."""
    key, secret = app_credentials()
    flow = dropbox.DropboxOAuth2Flow(
        key,
        redirect_uri=absolute_url("dropbox.callback"),
        session=web_session,
        csrf_token_session_key=CSRF_SESSION_KEY,
        consumer_secret=secret,
        token_access_type="offline",
        scope=BUYER_SCOPES,
    )
    flow.requests_session = http_session()
    return flow


def connection_for(order: Order) -> DropboxConnection | None:
    return db.session.scalar(select(DropboxConnection).where(DropboxConnection.order_id == order.id))


def save_connection(order: Order, result: OAuth2FlowResult) -> DropboxConnection:
    """Store (or replace) the order's tokens, encrypted, with the account they belong to."""
    box = get_token_box()
    expires_at = result.expires_at.replace(tzinfo=UTC) if result.expires_at else None
    client = make_client(result.refresh_token, result.access_token, expires_at)
    account = client.users_get_current_account()
    connection = connection_for(order) or DropboxConnection(order_id=order.id)
    connection.account_id = result.account_id
    connection.account_email = account.email
    connection.account_name = account.name.display_name
    connection.refresh_token_enc = box.encrypt(result.refresh_token)
    connection.access_token_enc = box.encrypt(result.access_token)
    connection.access_token_expires_at = expires_at
    connection.scope = result.scope or " ".join(BUYER_SCOPES)
    db.session.add(connection)
    db.session.commit()
    return connection


def remember_refreshed_token(connection_id: int, dbx: dropbox.Dropbox, before: str | None) -> bool:
    """Store the access token ``dbx`` holds now if the SDK refreshed it (``before`` was the old one).

    The SDK refreshes in memory only (before a call when the token is about to expire, or
    after a 401 ``expired_access_token``), so without this every job would refresh again.
    Written encrypted, with the expiry the SDK computed. Returns whether anything changed.
    """
    token, expires = held_token(dbx)
    if not token or token == before:
        return False
    db.session.execute(
        update(DropboxConnection).where(DropboxConnection.id == connection_id)
        .values(access_token_enc=get_token_box().encrypt(token),
                access_token_expires_at=expires.replace(tzinfo=UTC) if expires else None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return True


def disconnect(order: Order) -> bool:
    """Revoke the order's tokens at Dropbox (best effort, briefly) and always forget them."""
    connection = connection_for(order)
    if connection is None:
        return False
    try:
        buyer_client(connection, timeout=REVOKE_TIMEOUT).auth_token_revoke()
    except (DropboxException, requests.RequestException) as exc:
        # Already revoked, unreachable or hung: forgetting the tokens is what matters here.
        log.info("revoking Dropbox tokens of order %s failed: %s", order.id, type(exc).__name__)
    db.session.delete(connection)
    db.session.commit()
    return True
