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
    """One ``SHOP_*`` setting. ``help``, ``shown_default`` and ``required_note`` make its row of
    the README's table (:func:`settings_table`, printed by ``flask settings``)."""

    name: str
    default: Any
    convert: Callable[[str], Any] = str
    required_in_production: bool = False
    help: str = ""
    shown_default: str | None = None
    required_note: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("ENV", "development", help="`development`, `production` or `testing`."),
    Setting("SECRET_KEY", None, required_in_production=True,
            help="Signs sessions, CSRF tokens and fetch links. Development keeps one in `instance/dev_secret_key`."),
    Setting("DATABASE_URL", None, shown_default="`sqlite:///instance/shop.sqlite3`",
            help="SQLAlchemy URL, e.g. `postgresql+psycopg://shop@db/shop`."),
    Setting("DB_POOL_SIZE", 5, int,
            help="PostgreSQL connections each process keeps open. Per web machine at most "
                 "`WEB_CONCURRENCY × (pool + overflow)`; the sum over all machines and workers must "
                 "stay under the server's `max_connections` (docs/deploy.md)."),
    Setting("DB_MAX_OVERFLOW", 10, int,
            help="Extra PostgreSQL connections a process may open for a burst, closed when returned."),
    Setting("DB_POOL_TIMEOUT", 30.0, float,
            help="Seconds a request waits for a free PostgreSQL connection before it fails."),
    Setting("REDIS_URL", None, required_note="for Dropbox", help="Redis for the RQ queue."),
    Setting("MEDIA_ROOT", None, shown_default="`instance/media`",
            help="Folder for audio and covers (local storage)."),
    Setting("STORAGE", "local", help="`local` or `s3`."),
    Setting("S3_BUCKET", None, required_note="with `s3`", help="Bucket name."),
    Setting("S3_ENDPOINT_URL", None, help="S3-compatible endpoint (empty for AWS)."),
    Setting("S3_REGION", "us-east-1", help="S3 region."),
    Setting("X_ACCEL_REDIRECT", None,
            help="nginx internal location prefix (e.g. `/protected-media/`): single files are handed to nginx."),
    Setting("BASE_URL", None, required_in_production=True,
            help="Public URL of the store (e.g. `https://music.example`). Every absolute URL is built from it "
                 "(e-mails, the OAuth redirect URI, fetch links), never from the request's `Host`; production "
                 "also answers only to its host. Development falls back to `http://127.0.0.1:8000`."),
    Setting("MAIL_URL", None,
            help="`smtp://host:25`, `smtp://user:pass@host:587?starttls=1` or `smtps://user:pass@host:465`; "
                 "unset writes `.eml` files."),
    Setting("MAIL_FROM", "Indie Packs <store@localhost>",
            help="Sender of every mail the store sends: a name and an address, e.g. "
                 "`Indie Packs <orders@music.example>`."),
    Setting("MAIL_REPLY_TO", None,
            help="Where buyers' replies go (the `Reply-To` of every mail), e.g. `help@music.example`; "
                 "unset, replies go to `SHOP_MAIL_FROM`. The shipped about page tells buyers to reply."),
    Setting("COMPRESS", True, _bool,
            help="Compress text responses (pages, CSS, JavaScript, JSON, the feed) with Brotli or gzip "
                 "for browsers that accept it. Leave on unless a proxy in front compresses them "
                 "(it then passes ours through unchanged)."),
    Setting("PAGES_DIR", None, shown_default="`instance/pages`",
            help="Folder of the operator's own `about.md`, `terms.md`, `privacy.md` and `refunds.md` "
                 "(Markdown, raw HTML shown as text); a page missing there uses the shipped default "
                 "in `shop/store/pages/`."),
    Setting("OUTBOX_DIR", None, shown_default="`instance/outbox`",
            help="Where `.eml` files go without `SHOP_MAIL_URL`."),
    Setting("PAYMENT_PROVIDER", None, shown_default="`test` outside production",
            help="The payment provider: `stripe` (Stripe Checkout; `make run` uses it with the Stripe emulator) "
                 "or `test` (a labelled fake checkout, refused in production)."),
    Setting("STRIPE_SECRET_KEY", None, required_note="with `stripe`",
            help="Stripe secret key (`sk_live_...`, or `sk_test_...` in test mode)."),
    Setting("STRIPE_WEBHOOK_SECRET", None, required_note="with `stripe`",
            help="Signing secret (`whsec_...`) of the webhook endpoint registered for "
                 "`<SHOP_BASE_URL>/payments/stripe/webhook`."),
    Setting("STRIPE_CONNECT_WEBHOOK_SECRET", None,
            help="Signing secret (`whsec_...`) of the Connect webhook endpoint (events on connected accounts) "
                 "registered for `<SHOP_BASE_URL>/payments/stripe/connect-webhook`: it tells the store when an "
                 "artist's Stripe account can be paid. Unset, that URL is a 404."),
    Setting("STRIPE_API_URL", None,
            help="Base URL of a Stripe emulator (`python -m stripe_emulator`); unset talks to real Stripe."),
    Setting("MAX_AMOUNT_CENTS", 100_000, int, help="Highest amount a buyer may pay, in cents."),
    Setting("BUYS_PER_CLIENT", 30, int,
            help="`/packs/<slug>/buy` requests per client IP per hour (repeats reuse one pending order)."),
    Setting("STRIPE_RETURNS_PER_CLIENT", 60, int,
            help="`/payments/stripe/return` requests per client IP per hour (each buyer needs one per payment; "
                 "an unknown session id is answered from the database, never from Stripe)."),
    Setting("LOST_LINKS_PER_ADDRESS", 3, int, help="`/orders/lost` requests per address per hour."),
    Setting("LOST_LINKS_PER_CLIENT", 10, int, help="`/orders/lost` requests per client IP per hour."),
    Setting("REDEEMS_PER_CLIENT", 20, int,
            help="`/redeem` attempts (right or wrong) per client IP per hour."),
    Setting("STATEMENT_MISSES_PER_CLIENT", 20, int,
            help="Wrong or revoked `/statements/<token>` links tried per client IP per hour; "
                 "past it, further misses answer 429 for the hour (a live link still opens)."),
    Setting("NOTIFY_PER_ADDRESS", 3, int, help="`/notify` sign-ups per address per hour."),
    Setting("NOTIFY_PER_CLIENT", 10, int, help="`/notify` sign-ups per client IP per hour."),
    Setting("MAIL_RATE", 10.0, float,
            help="Announcement mails per second each sending worker hands to SMTP (`flask mailing announce`)."),
    Setting("ANNOUNCE_STALE_SECONDS", 60, int,
            help="An announcement whose worker sent nothing for this long is resumed by another worker."),
    Setting("ANNOUNCE_WITHIN_HOURS", 24, int,
            help="The worker announces a pack by itself when its sale has started within this many hours "
                 "(and it is on sale: in its window, encoded); `0` turns that off (`flask mailing announce` "
                 "still works)."),
    Setting("TRUST_PROXY", False, _bool,
            help="Trust one `X-Forwarded-For` / `X-Forwarded-Proto` hop (never `X-Forwarded-Host`). Only behind "
                 "a proxy that sets these headers itself: without one, clients can forge their address and "
                 "bypass the rate limits."),
    Setting("DROPBOX_APP_KEY", None, help="Dropbox app key (app-folder access)."),
    Setting("DROPBOX_APP_SECRET", None, required_note="with the key", help="Dropbox app secret."),
    Setting("DROPBOX_APP_FOLDER", "Indie Packs",
            help="The app's folder name as registered (buyers find albums in `Apps/<name>`)."),
    Setting("DROPBOX_API_URL", None, help="Base URL of a Dropbox emulator; unset talks to real Dropbox."),
    Setting("DROPBOX_STORE_REFRESH_TOKEN", None,
            help="The store account's refresh token (else `flask dropbox link-store`)."),
    Setting("DROPBOX_TIMEOUT", None, float, shown_default="`30`",
            help="Seconds the Dropbox SDK waits for one call. Must stay below half of "
                 "`SHOP_DELIVERY_STALE_SECONDS` (defence in depth: the heartbeat beats during calls, but a call "
                 "that hung past the stale limit could still write after another worker took over); unset, it "
                 "is 30, shortened to fit when the stale limit is short."),
    Setting("DELIVERY_STALE_SECONDS", 90, int,
            help="A running delivery without a heartbeat for this long is taken over by another worker."),
    Setting("DELIVERY_MAIL_AFTER_SECONDS", 60, int,
            help="A Dropbox delivery whose run took longer than this e-mails the buyer once when it ends "
                 "(done, failed, or waiting for more space or a reconnect), with a fresh order link."),
    Setting("ADMIN_UPLOAD_MAX_BYTES", 4 * 1024**3, int, shown_default="`4294967296` (4 GiB)",
            help="Largest upload of album masters through the operator console (one request: an album's files "
                 "or its zip). Only that endpoint accepts more than the 64 KiB every other request is held to; "
                 "the body is streamed to a temporary folder, never held in memory."),
    Setting("ADMIN_IDLE_MINUTES", 30, int,
            help="A console session unused for this long ends; the operator logs in again."),
    Setting("ADMIN_SESSION_HOURS", 12, int,
            help="A console session ends this long after its login, however busy. Logging out, being disabled, "
                 "a new password and a TOTP change end every session of that operator at once."),
    Setting("TOKEN_KEYS", None, required_note="with the key",
            help="Comma-separated Fernet keys for the Dropbox tokens and operators' TOTP secrets; the first "
                 "encrypts, all decrypt (`flask rotate-keys`). "
                 "Development keeps one in `instance/dev_token_key`."),
)



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
    if config.get("PAYMENT_PROVIDER") == "stripe":
        missing += [f"SHOP_{name}" for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET") if not config.get(name)]
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
        "PAGES_DIR": str(instance / "pages"),
    }


DEFAULT_DROPBOX_TIMEOUT = 30.0


def dropbox_timeout(config: Mapping[str, Any]) -> float:
    """The Dropbox SDK timeout in seconds: ``DROPBOX_TIMEOUT``, else 30 (or less, see below).

    The delivery's heartbeat beats from its own thread during calls, so this is defence in
    depth: a call that hangs past the stale limit would let another worker take over a
    delivery whose first worker may still write. An unset timeout is shortened to just under
    half of the stale limit when that is short (tests use a stale limit of a few seconds).

    :raises ConfigError: when ``DROPBOX_TIMEOUT`` is set and not below half of
        ``DELIVERY_STALE_SECONDS``.
    """
    stale = float(config["DELIVERY_STALE_SECONDS"])
    configured = config.get("DROPBOX_TIMEOUT")
    if configured is None:
        return min(DEFAULT_DROPBOX_TIMEOUT, stale / 2 * 0.9)
    if not 0 < configured < stale / 2:
        raise ConfigError(
            f"SHOP_DROPBOX_TIMEOUT ({configured:g} s) must be above 0 and below half of "
            f"SHOP_DELIVERY_STALE_SECONDS ({stale:g} s): a Dropbox call that outlasts the heartbeat makes a live "
            "delivery look dead, and a second worker would take it over"
        )
    return float(configured)


def settings_table() -> str:
    """The README's settings table, as Markdown (``flask settings`` prints it)."""
    rows = [
        "| variable | default | required in production | meaning |",
        "|---|---|---|---|",
    ]
    for setting in SETTINGS:
        required = "yes" if setting.required_in_production else setting.required_note
        rows.append(f"| `SHOP_{setting.name}` | {_shown_default(setting)} | {required} | {setting.help} |")
    return "\n".join(rows)


def _shown_default(setting: Setting) -> str:
    if setting.shown_default is not None:
        return setting.shown_default
    if setting.default is None:
        return ""
    if isinstance(setting.default, bool):
        return "`true`" if setting.default else "`false`"
    return f"`{setting.default}`"


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
