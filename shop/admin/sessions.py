"""A session cookie of its own for ``/admin``, apart from the buyers' one.

Under ``/admin`` the session lives in the ``shop_admin`` cookie (path ``/admin``,
``SameSite=Strict``, HttpOnly, Secure in production) and is signed with a salt of its
own; everywhere else the buyer cookie works as before. So a buyer's cookie never
carries an operator login, an operator's cookie is never sent to buyer pages, and a
buyer cookie's value pasted into ``shop_admin`` does not verify.

A signed cookie cannot be taken back, so what it carries is checked against the database
on every request (review finding M1):

* the operator's id *and* ``session_version`` (:meth:`Operator.get_id`): raising the
  version (logout, disable, a new password or TOTP) ends every session of that operator,
  copies of the cookie included;
* when the session began and when it was last used: past ``ADMIN_SESSION_HOURS`` since the
  login, or ``ADMIN_IDLE_MINUTES`` without a request, it is over.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

ADMIN_PREFIX = "/admin"
ADMIN_COOKIE = "shop_admin"


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class AdminAwareSessionInterface(SecureCookieSessionInterface):
    admin_salt = "shop-admin-session"

    def _admin(self) -> bool:
        return is_admin_path(request.path)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        serializer = super().get_signing_serializer(app)
        if serializer is None or not self._admin():
            return serializer
        return URLSafeTimedSerializer(
            app.secret_key,  # type: ignore[arg-type]
            salt=self.admin_salt,
            serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )

    def get_cookie_name(self, app: Flask) -> str:
        return ADMIN_COOKIE if self._admin() else super().get_cookie_name(app)

    def get_cookie_path(self, app: Flask) -> str:
        return request.script_root + ADMIN_PREFIX if self._admin() else super().get_cookie_path(app)

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "Strict" if self._admin() else super().get_cookie_samesite(app)

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True if self._admin() else super().get_cookie_httponly(app)

    def get_cookie_domain(self, app: Flask) -> str | None:
        # Host-only: the console's cookie is never shared with sibling domains.
        return None if self._admin() else super().get_cookie_domain(app)


LOGIN_AT = "_admin_login_at"
SEEN_AT = "_admin_seen_at"
# The last-use time is rewritten at most this often (seconds), so a page view does not
# re-issue the cookie every time; the idle limit is then exact to within this.
SEEN_RESOLUTION = 60


def parse_session_id(value: str) -> tuple[int, int] | None:
    """``(operator_id, session_version)`` from a session's ``"<id>.<version>"``, or None."""
    operator_id, dot, version = value.partition(".")
    if not (dot and operator_id.isdigit() and version.isdigit()):
        return None
    return int(operator_id), int(version)


def begin(session: MutableMapping[str, Any], now: float) -> None:
    """Stamp a new login's session with its start."""
    session[LOGIN_AT] = session[SEEN_AT] = int(now)


def still_alive(session: MutableMapping[str, Any], now: float, idle_seconds: float,
                lifetime_seconds: float) -> bool:
    """Whether the session is within both limits; if so its last use becomes ``now``.

    A session without stamps (made before they existed, or forged around them) is over.
    """
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if not isinstance(login_at, int) or not isinstance(seen_at, int):
        return False
    if now - login_at > lifetime_seconds or now - seen_at > idle_seconds or now < login_at:
        return False
    if now - seen_at >= SEEN_RESOLUTION:
        session[SEEN_AT] = int(now)
    return True
