"""A session cookie of its own for ``/admin``, apart from the buyers' one.

Under ``/admin`` the session lives in the ``shop_admin`` cookie (path ``/admin``,
``SameSite=Strict``, HttpOnly, Secure in production) and is signed with a salt of its
own; everywhere else the buyer cookie works as before. So a buyer's cookie never
carries an operator login, an operator's cookie is never sent to buyer pages, and a
buyer cookie's value pasted into ``shop_admin`` does not verify.
"""

from __future__ import annotations

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
