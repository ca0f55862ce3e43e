"""Encryption at rest for Dropbox tokens, with rotatable keys.

``TOKEN_KEYS`` is a comma-separated list of Fernet keys: the first encrypts, every key
decrypts, so a new key is put first, ``flask dropbox rotate-keys`` re-encrypts every
token with it, and the old key can then be dropped.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app


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


def _development_key(instance_path: str) -> str:
    path = os.path.join(instance_path, "dev_token_key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as fh:
            return fh.read().strip()
    key = Fernet.generate_key().decode("ascii")
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def get_token_box(app: Flask | None = None) -> TokenBox:
    """The app's token box; outside production a key is kept in the instance folder."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    box = app.extensions.get("shop.token_box")
    if box is None:
        setting = app.config.get("TOKEN_KEYS") or _development_key(app.instance_path)
        box = app.extensions["shop.token_box"] = TokenBox.from_setting(setting)
    return box
