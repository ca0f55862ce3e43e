"""Encryption at rest for Dropbox tokens and operators' TOTP secrets, with rotatable keys.

``TOKEN_KEYS`` is a comma-separated list of Fernet keys: the first encrypts, every key
decrypts, so a new key is put first, ``flask rotate-keys`` (also ``flask dropbox
rotate-keys``) re-encrypts every secret with it (:func:`rotate_all`), and the old key can
then be dropped.

A column holding a secret encrypted with these keys says so with ``info=ENCRYPTED`` on its
``mapped_column``: that is how :func:`rotate_all` finds it, wherever its model lives.
"""

from __future__ import annotations

from collections.abc import Iterator

import click
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Mapper

from shop.config import instance_secret
from shop.extensions import Base, db

#: ``mapped_column(..., info=ENCRYPTED)`` marks a column encrypted with the token keys.
ENCRYPTED = {"encrypted_with_token_keys": True}


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
    """The app's token box; outside production a key is kept in the instance folder.

    :raises TokenKeyError: in production without ``SHOP_TOKEN_KEYS`` (a key in one host's
        instance folder would leave secrets that no other host, or a rebuilt one, can open).
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    box = app.extensions.get("shop.token_box")
    if box is None:
        if not app.config.get("TOKEN_KEYS") and app.config.get("ENV") == "production":
            raise TokenKeyError("SHOP_TOKEN_KEYS is not set; production keeps secrets only with its own keys")
        setting = app.config.get("TOKEN_KEYS") or instance_secret(
            app.instance_path, "dev_token_key", lambda: Fernet.generate_key().decode("ascii"))
        box = app.extensions["shop.token_box"] = TokenBox.from_setting(setting)
    return box


def encrypted_columns() -> Iterator[tuple[Mapper[object], list[str]]]:
    """Every mapped class with columns marked :data:`ENCRYPTED`, and those columns' attribute names."""
    for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__):
        names = [attr.key for attr in mapper.column_attrs
                 if any(column.info.get("encrypted_with_token_keys") for column in attr.columns)]
        if names:
            yield mapper, names


def rotate_all(box: TokenBox) -> dict[str, int]:
    """Re-encrypt every marked secret with ``box``'s first key, in the session (the caller
    commits, or rolls back on :class:`TokenKeyError`). Returns rows changed per table."""
    changed: dict[str, int] = {}
    for mapper, names in encrypted_columns():
        model = mapper.class_
        columns = [getattr(model, name) for name in names]
        count = 0
        for row in db.session.scalars(select(model).where(or_(*(column.is_not(None) for column in columns)))):
            for name in names:
                value = getattr(row, name)
                if value is not None:
                    setattr(row, name, box.rotate(value))
            count += 1
        changed[mapper.local_table.name] = count  # type: ignore[attr-defined]
    return changed


@click.command("rotate-keys")
def rotate_keys_command() -> None:
    """Re-encrypt every stored secret (Dropbox tokens, operators' TOTP secrets) with the first
    key of SHOP_TOKEN_KEYS: all or nothing."""
    try:
        changed = rotate_all(get_token_box())
    except TokenKeyError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc}; nothing was changed.") from None
    db.session.commit()
    summary = ", ".join(f"{table}: {count}" for table, count in changed.items())
    click.echo(f"Re-encrypted with the newest key ({summary} row(s)).")
