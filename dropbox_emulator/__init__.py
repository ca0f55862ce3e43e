"""A local Dropbox that the official ``dropbox`` SDK cannot tell from the real one.

``create_app()`` builds the Flask app (OAuth 2, API v2 routes, control API under
``/__emulator__/``, a ``/home`` web view); its :class:`Emulator` is at
``app.extensions["dropbox_emulator"]``. See ``docs/dropbox-emulator.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import requests
from flask import Flask

from emulator_common import install_request_ids

from .emulator import Emulator, Settings
from .ids import new_request_id

__all__ = ["Emulator", "Settings", "create_app"]


def create_app(
    data_dir: str | Path | None = None,
    apps: Iterable[tuple[str, str] | tuple[str, str, str]] = (),
    *,
    latency_ms: float = 0.0,
    token_ttl: float | None = None,
    settings: Settings | None = None,
    http_session_factory: Callable[[], requests.Session] = requests.Session,
) -> Flask:
    """Build an emulator app.

    :param data_dir: persist state and file contents there; ``None`` keeps metadata in
        memory and contents in a temporary directory (call ``emulator.close()`` to remove).
    :param apps: ``(key, secret)`` or ``(key, secret, name)`` apps to register.
    :param latency_ms: delay added to every API call.
    :param token_ttl: access-token lifetime in seconds (default 4 h).
    :param settings: all tunables at once; ``token_ttl`` overrides its field.
    :param http_session_factory: the ``requests`` session save_url downloads with.
    """
    settings = settings or Settings()
    if token_ttl is not None:
        settings.token_ttl = token_ttl
    emulator = Emulator(data_dir, settings, latency_ms, http_session_factory)
    for app_spec in apps:
        emulator.add_app(*app_spec)

    app = Flask(__name__)
    app.extensions["dropbox_emulator"] = emulator
    _register_blueprints(app)
    _register_request_ids(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from . import api, control, oauth, web

    app.register_blueprint(api.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(web.bp)


def _register_request_ids(app: Flask) -> None:
    install_request_ids(app, "X-Dropbox-Request-Id", new_request_id)
