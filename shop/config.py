"""Settings: defaults, then ``SHOP_*`` environment variables, then test overrides.

Every setting the store reads is declared once in :data:`SETTINGS`, with its type and
whether production requires it. Values from the environment are read as strings and
converted by the declared type (never JSON-decoded, so a secret that happens to look
like a number stays a string).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    convert: Callable[[str], Any] = str
    required_in_production: bool = False
    secret: bool = False
    help: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("ENV", "development", help="`development`, `production` or `testing`."),
    Setting("SECRET_KEY", None, required_in_production=True, secret=True,
            help="Signs sessions, CSRF tokens and fetch links. Development keeps one in `instance/dev_secret_key`."),
    Setting("DATABASE_URL", None,
            help="SQLAlchemy URL. Default: SQLite file `instance/shop.sqlite3`."),
    Setting("REDIS_URL", None, help="Redis for the RQ queue (Dropbox deliveries)."),
    Setting("MEDIA_ROOT", None, help="Folder for audio and covers. Default: `instance/media`."),
    Setting("STORAGE", "local", help="`local` (folder under MEDIA_ROOT) or `s3`."),
    Setting("S3_BUCKET", None, help="Bucket name when STORAGE=s3."),
    Setting("S3_ENDPOINT_URL", None, help="S3-compatible endpoint (empty for AWS)."),
    Setting("S3_REGION", "us-east-1", help="S3 region."),
    Setting("X_ACCEL_REDIRECT", None,
            help="nginx internal location prefix (e.g. `/protected-media/`); enables hand-off of single files."),
    Setting("BASE_URL", None, required_in_production=True,
            help="Public URL of the store (e.g. `https://music.example`); every absolute URL is built from it."),
    Setting("MAIL_URL", None, secret=True,
            help="`smtp://user:pass@host:port` or `smtps://...`; unset writes `.eml` files to the outbox."),
    Setting("MAIL_FROM", "Indie Packs <store@localhost>", help="Sender of receipts."),
    Setting("OUTBOX_DIR", None, help="Folder for `.eml` files when MAIL_URL is unset. Default: `instance/outbox`."),
    Setting("PAYMENT_PROVIDER", None,
            help="`test` (default outside production; a labelled fake checkout)."),
    Setting("MAX_AMOUNT_CENTS", 100_000, int, help="Highest amount a buyer may pay, in cents."),
    Setting("BUYS_PER_CLIENT", 30, int,
            help="`/packs/<slug>/buy` requests per client IP per hour (repeats reuse one pending order)."),
    Setting("LOST_LINKS_PER_ADDRESS", 3, int, help="`/orders/lost` requests per address per hour."),
    Setting("LOST_LINKS_PER_CLIENT", 10, int, help="`/orders/lost` requests per client IP per hour."),
    Setting("TRUST_PROXY", False, _bool, help="Trust one `X-Forwarded-For`/`-Proto` hop (never `-Host`)."),
    Setting("DROPBOX_APP_KEY", None, help="Dropbox app key (app-folder access)."),
    Setting("DROPBOX_APP_SECRET", None, secret=True, help="Dropbox app secret."),
    Setting("DROPBOX_APP_FOLDER", "Indie Packs",
            help="The app's folder name in Dropbox (buyers find albums under `Apps/<name>`)."),
    Setting("DROPBOX_API_URL", None,
            help="Base URL of a Dropbox emulator; unset talks to real Dropbox."),
    Setting("DROPBOX_STORE_REFRESH_TOKEN", None, secret=True,
            help="Refresh token of the store's own Dropbox account (else `flask dropbox link-store`)."),
    Setting("DELIVERY_STALE_SECONDS", 45, int,
            help="A running delivery with no heartbeat for this long is taken over by another worker."),
    Setting("TOKEN_KEYS", None, secret=True,
            help="Comma-separated Fernet keys for Dropbox tokens; the first encrypts, all decrypt. "
                 "Development keeps one in `instance/dev_token_key`."),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return every setting as ``{NAME: value}`` from defaults and ``SHOP_*`` variables.

    :raises ConfigError: when a value cannot be converted to its declared type.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(f"SHOP_{setting.name}")
        if raw is None or raw == "":
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.convert(raw)
        except ValueError as exc:
            raise ConfigError(f"SHOP_{setting.name}: {exc}") from None
    return values


def missing_production_settings(config: Mapping[str, Any]) -> list[str]:
    """Names (with the ``SHOP_`` prefix) of settings production needs but lacks."""
    missing = [f"SHOP_{s.name}" for s in SETTINGS if s.required_in_production and not config.get(s.name)]
    if config.get("DROPBOX_APP_KEY") and not config.get("DROPBOX_APP_SECRET"):
        missing.append("SHOP_DROPBOX_APP_SECRET")
    if config.get("DROPBOX_APP_KEY") and not config.get("TOKEN_KEYS"):
        missing.append("SHOP_TOKEN_KEYS")
    if config.get("STORAGE") == "s3" and not config.get("S3_BUCKET"):
        missing.append("SHOP_S3_BUCKET")
    return missing


def default_paths(instance_path: str) -> dict[str, str]:
    """Defaults that live under Flask's instance folder."""
    instance = Path(instance_path)
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'shop.sqlite3'}",
        "MEDIA_ROOT": str(instance / "media"),
        "OUTBOX_DIR": str(instance / "outbox"),
    }


def describe(name: str) -> Setting:
    return _BY_NAME[name]


def instance_secret(instance_path: str, name: str, make: Callable[[], str]) -> str:
    """A development secret kept in the instance folder, created on first use.

    Every process of one installation (gunicorn workers, RQ workers, CLI commands) then
    shares it, and it survives restarts. Production passes secrets as settings instead.
    """
    path = os.path.join(instance_path, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as fh:
            return fh.read().strip()
    secret = make()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret
