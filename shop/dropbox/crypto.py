"""Encryption at rest for Dropbox tokens, with rotatable keys.

``TOKEN_KEYS`` is a comma-separated list of Fernet keys: the first encrypts, every key
decrypts, so a new key is put first, ``flask dropbox rotate-keys`` re-encrypts every
token with it, and the old key can then be dropped.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from shop.config import instance_secret


class TokenKeyError(RuntimeError):
    pass


class TokenBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise TokenKeyError("SHOP_TOKEN_KEYS is empty")
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, UnicodeEncodeError) as exc:
            raise TokenKeyError("SHOP_TOKEN_KEYS must hold url-safe base64 Fernet keys of 32 bytes") from exc

    @classmethod
    def from_setting(cls, value: str) -> TokenBox:
        return cls([key.strip() for key in value.split(",") if key.strip()])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """:raises TokenKeyError: when no configured key opens the token."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken:
            raise TokenKeyError("no key in SHOP_TOKEN_KEYS decrypts this token") from None

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise TokenKeyError("no key in SHOP_TOKEN_KEYS decrypts this token") from None


def get_token_box(app: Flask | None = None) -> TokenBox:
    """The app's token box; outside production a key is kept in the instance folder."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    box = app.extensions.get("shop.token_box")
    if box is None:
        setting = app.config.get("TOKEN_KEYS") or instance_secret(
            app.instance_path, "dev_token_key", lambda: Fernet.generate_key().decode("ascii"))
        box = app.extensions["shop.token_box"] = TokenBox.from_setting(setting)
    return box
