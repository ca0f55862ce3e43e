"""OAuth 2 token logic: codes, token issue, refresh, bearer checks, revoke, unlink.

Plain functions over a :class:`~.state.Store`; the HTTP views live in
:mod:`.oauth` and :mod:`.api`. An app counts as *linked* to an account from
the first token issued until it is unlinked, or until its last live token is
revoked (copy references minted through a link need it to still exist).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from .ids import new_access_token, new_code, new_refresh_token, utcnow
from .state import AccessToken, Account, App, AuthCode, RefreshToken, Store


class TokenRequestError(Exception):
    """An OAuth token endpoint error (``invalid_grant``, ``invalid_client``, ...)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class IssuedTokens:
    access: AccessToken
    refresh: RefreshToken | None
    account: Account

    @property
    def access_token(self) -> str:
        return self.access.token

    @property
    def refresh_token(self) -> str | None:
        return self.refresh.token if self.refresh is not None else None

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def uid(self) -> str:
        return self.account.uid

    def as_json(self, now: datetime) -> dict[str, str | int]:
        """The ``/oauth2/token`` body for these tokens (``refresh_token`` only if offline)."""
        body: dict[str, str | int] = {
            "access_token": self.access.token,
            "token_type": "bearer",
            "expires_in": max(0, int((self.access.expires_at - now).total_seconds())),
            "scope": " ".join(self.access.scopes),
            "uid": self.account.uid,
            "account_id": self.account.account_id,
        }
        if self.refresh is not None:
            body["refresh_token"] = self.refresh.token
        return body


def issue_tokens(
    store: Store, account: Account, app: App, scopes: list[str], *, offline: bool,
    ttl: float, pkce: bool = False,
) -> IssuedTokens:
    """Link ``app`` to ``account`` and mint an access token (plus a refresh token if offline)."""
    with store.transaction():
        store.links.setdefault((account.account_id, app.key), set()).update(scopes)
        if app.root:
            namespace = account.namespace
            if namespace.get(app.root) is None:
                namespace.create_folder(app.root)
        refresh = None
        if offline:
            refresh = RefreshToken(new_refresh_token(), account.account_id, app.key,
                                   list(scopes), pkce=pkce)
            store.refresh_tokens[refresh.token] = refresh
        access = _mint_access(store, account.account_id, app.key, scopes, ttl,
                              refresh.token if refresh else None)
        return IssuedTokens(access, refresh, account)


def _mint_access(
    store: Store, account_id: str, app_key: str, scopes: list[str], ttl: float, refresh: str | None
) -> AccessToken:
    token = AccessToken(new_access_token(), account_id, app_key, list(scopes),
                        utcnow() + timedelta(seconds=ttl), refresh)
    store.access_tokens[token.token] = token
    return token


def create_code(store: Store, code: AuthCode) -> str:
    code.code = code.code or new_code()
    with store.lock:
        store.codes[code.code] = code
    return code.code


def check_client(app: App | None, secret: str | None) -> App:
    """:raises TokenRequestError: ``invalid_client`` for an unknown key or a wrong secret."""
    if app is None or (secret is not None and not hmac.compare_digest(secret, app.secret)):
        raise TokenRequestError("invalid_client", "Invalid client_id or client_secret")
    return app


def exchange_code(
    store: Store, app: App, code_value: str, *, secret: str | None, redirect_uri: str | None,
    code_verifier: str | None, ttl: float,
) -> IssuedTokens:
    """Redeem an authorization code once.

    :raises TokenRequestError: ``invalid_grant`` for an unknown, used, expired or foreign
        code or a redirect_uri mismatch; ``invalid_client`` without secret or valid PKCE.
    """
    with store.transaction():
        code = store.codes.pop(code_value, None)
        if code is None or code.expires_at <= utcnow() or code.app_key != app.key:
            raise TokenRequestError("invalid_grant", "code doesn't exist or has expired")
        if code.redirect_uri != redirect_uri:
            raise TokenRequestError("invalid_grant", "redirect_uri mismatch")
        pkce = code.code_challenge is not None and code_verifier is not None
        if pkce:
            assert code.code_challenge is not None and code_verifier is not None
            if not _verifier_matches(code.code_challenge, code.code_challenge_method, code_verifier):
                raise TokenRequestError("invalid_grant", "invalid code verifier")
        elif secret is None:
            raise TokenRequestError("invalid_client", "client_secret is required")
        account = store.accounts[code.account_id]
        return issue_tokens(store, account, app, code.scopes, offline=code.offline, ttl=ttl,
                            pkce=pkce)


def _verifier_matches(challenge: str, method: str | None, verifier: str) -> bool:
    if method == "plain":
        return hmac.compare_digest(challenge, verifier)
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return hmac.compare_digest(challenge, expected)


def refresh_access(
    store: Store, app: App, refresh_value: str, *, secret: str | None,
    scopes: list[str] | None, ttl: float,
) -> AccessToken:
    """Mint a new access token from a refresh token (which stays valid).

    :raises TokenRequestError: ``invalid_grant`` for an unknown or revoked token,
        ``invalid_client`` without a secret for a non-PKCE token, ``invalid_scope``
        when asking for scopes beyond the grant.
    """
    with store.transaction():
        refresh = store.refresh_tokens.get(refresh_value)
        if refresh is None or refresh.revoked or refresh.app_key != app.key:
            raise TokenRequestError("invalid_grant", "refresh token is invalid or revoked")
        if secret is None and not refresh.pkce:
            raise TokenRequestError("invalid_client", "client_secret is required")
        wanted = scopes if scopes else refresh.scopes
        if not set(wanted) <= set(refresh.scopes):
            raise TokenRequestError("invalid_scope", "requested scope exceeds the grant")
        return _mint_access(store, refresh.account_id, app.key, wanted, ttl, refresh.token)


def revoke(store: Store, access: AccessToken) -> None:
    """Revoke ``access``, its refresh token and that refresh token's other access tokens."""
    with store.transaction():
        access.revoked = True
        if access.refresh_token is not None:
            store.refresh_tokens[access.refresh_token].revoked = True
            for other in store.access_tokens.values():
                if other.refresh_token == access.refresh_token:
                    other.revoked = True
        if not _has_live_tokens(store, access.account_id, access.app_key):
            store.links.pop((access.account_id, access.app_key), None)


def _has_live_tokens(store: Store, account_id: str, app_key: str) -> bool:
    now = utcnow()
    return any(
        t.account_id == account_id and t.app_key == app_key and not t.revoked
        and (t.refresh_token is not None or t.expires_at > now)
        for t in store.access_tokens.values()
    ) or any(
        t.account_id == account_id and t.app_key == app_key and not t.revoked
        for t in store.refresh_tokens.values()
    )


def unlink(store: Store, account_id: str, app_key: str) -> int:
    """Unlink an app from an account, revoking all its tokens; returns how many."""
    with store.transaction():
        store.links.pop((account_id, app_key), None)
        revoked = 0
        for token in [*store.access_tokens.values(), *store.refresh_tokens.values()]:
            if token.account_id == account_id and token.app_key == app_key and not token.revoked:
                token.revoked = True
                revoked += 1
        return revoked


def expire_now(store: Store, access_token: str | None = None,
               account_id: str | None = None, app_key: str | None = None) -> int:
    """Make one access token, or all of an account's (for one app or all), expire now."""
    with store.transaction():
        past = utcnow() - timedelta(seconds=1)
        count = 0
        for token in store.access_tokens.values():
            if access_token is not None:
                match = token.token == access_token
            else:
                match = token.account_id == account_id and app_key in (None, token.app_key)
            if match:
                token.expires_at = past
                count += 1
        return count
