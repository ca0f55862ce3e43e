"""The store: a Flask application factory and its registration steps."""

from __future__ import annotations

import os
import secrets
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from shop.config import (
    ConfigError,
    default_paths,
    dropbox_timeout,
    instance_secret,
    load_settings,
    missing_production_settings,
    settings_table,
)
from shop.extensions import csrf, db, migrate

MAX_ID = 2_147_483_647


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the store.

    Settings come from defaults, then ``SHOP_*`` environment variables, then
    ``test_config``. With ``ENV=production`` the app refuses to start while a required
    setting is missing.

    :raises ConfigError: naming every missing or malformed setting.
    """
    app = Flask(__name__, instance_relative_config=True)
    configure(app, test_config)
    configure_logging(app)
    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_security(app)
    register_template_helpers(app)
    register_static_assets(app)
    register_compression(app)
    register_commands(app)
    register_admin(app)
    return app


def configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    settings = load_settings()
    for name, value in default_paths(app.instance_path).items():
        if settings.get(name) is None:
            settings[name] = value
    settings.update(test_config or {})
    production = settings["ENV"] == "production"
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        SESSION_COOKIE_NAME="shop_session",
        WTF_CSRF_TIME_LIMIT=None,  # a pack page may stay open for hours; the session bounds it
        MAX_CONTENT_LENGTH=64 * 1024,  # forms only: nothing we accept is larger
        JSON_SORT_KEYS=False,
    )
    app.config.update(settings)  # environment, then test_config: these come last

    env = app.config["ENV"]
    if env not in {"development", "production", "testing"}:
        raise ConfigError(f"SHOP_ENV must be development, production or testing, not {env!r}")
    if production:
        missing = missing_production_settings(app.config)
        if missing:
            raise ConfigError("refusing to start in production without: " + ", ".join(missing))
        if app.config.get("PAYMENT_PROVIDER") == "test":
            raise ConfigError("SHOP_PAYMENT_PROVIDER=test marks orders paid without payment: not in production")
        if not app.config.get("TRUSTED_HOSTS"):
            # Answer only to the public host: a request naming another one is a 400.
            app.config["TRUSTED_HOSTS"] = [urlsplit(app.config["BASE_URL"]).hostname]
    app.config["DROPBOX_TIMEOUT"] = dropbox_timeout(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        # Development only (production refused above). Kept in the instance folder so every
        # gunicorn worker and every restart signs sessions with the same key.
        app.config["SECRET_KEY"] = instance_secret(app.instance_path, "dev_secret_key", lambda: secrets.token_hex(32))
    if app.config.get("PAYMENT_PROVIDER") is None:
        app.config["PAYMENT_PROVIDER"] = None if production else "test"

    app.config.setdefault("SQLALCHEMY_DATABASE_URI", app.config["DATABASE_URL"])
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        # gthread workers run up to SHOP_THREADS requests at once, each holding a connection
        # while it queries: the pool bounds the connections, threads beyond it wait.
        engine_options.update(pool_size=app.config["DB_POOL_SIZE"], max_overflow=app.config["DB_MAX_OVERFLOW"],
                              pool_timeout=app.config["DB_POOL_TIMEOUT"])
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options)


def configure_logging(app: Flask) -> None:
    from shop.logs import configure_logging

    configure_logging(app)


def register_extensions(app: Flask) -> None:
    from shop import artists, transactions  # noqa: F401  (artists: the Artist model every album names)
    from shop.ledger import models as ledger_models  # noqa: F401  (the ledger's tables, for the metadata)

    db.init_app(app)
    transactions.register(app)  # read-only requests commit, keeping psycopg's prepared statements
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    csrf.init_app(app)
    if app.config["TRUST_PROXY"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address and scheme only. The host is never taken from a header
        # (absolute URLs come from BASE_URL): X-Forwarded-Host would let a client pick it.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]


class IdConverter(IntegerConverter):
    """``<int:...>`` limited to 1..2147483647 (PostgreSQL's INTEGER), so a larger or zero id is
    simply no route (404) instead of an overflow in the database driver (500)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def register_url_converters(app: Flask) -> None:
    """Before the blueprints: rules take their converter when they are added."""
    app.url_map.converters["int"] = IdConverter


def register_blueprints(app: Flask) -> None:
    from shop.codes import bp as codes_bp
    from shop.downloads import bp as downloads_bp
    from shop.dropbox import bp as dropbox_bp
    from shop.gifts import bp as gifts_bp
    from shop.mailing import bp as mailing_bp
    from shop.orders import bp as orders_bp
    from shop.payments import bp as payments_bp
    from shop.payouts import bp as payouts_bp
    from shop.statements import bp as statements_bp
    from shop.store import bp as store_bp

    app.register_blueprint(store_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(payouts_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(downloads_bp)
    app.register_blueprint(dropbox_bp)
    app.register_blueprint(codes_bp)
    app.register_blueprint(mailing_bp)
    app.register_blueprint(gifts_bp)
    app.register_blueprint(statements_bp)


def register_error_handlers(app: Flask) -> None:
    from shop.errors import register

    register(app)


def register_security(app: Flask) -> None:
    from shop.security import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from shop.formatting import register

    register(app)


def register_static_assets(app: Flask) -> None:
    from shop.static_assets import register

    register(app)


def register_compression(app: Flask) -> None:
    """Its step sees the final body: the blueprints' steps run before the app's, and the
    security headers' step (registered earlier, so run later) only adds headers."""
    from shop.compression import register

    register(app)


def register_commands(app: Flask) -> None:
    from shop.catalog.cli import catalog_cli
    from shop.crypto import rotate_keys_command
    from shop.dropbox.cli import dropbox_cli
    from shop.statements.cli import artists_cli
    from shop.worker import worker_command

    app.cli.add_command(catalog_cli)
    app.cli.add_command(dropbox_cli)
    app.cli.add_command(artists_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(settings_command)
    app.cli.add_command(rotate_keys_command)


def register_admin(app: Flask) -> None:
    """The operator console at /admin: blueprint, operator logins, its own session cookie, CLI."""
    from shop.admin.setup import register

    register(app)


@click.command("settings")
def settings_command() -> None:
    """Print every SHOP_* setting as the README's Markdown table."""
    click.echo(settings_table())
