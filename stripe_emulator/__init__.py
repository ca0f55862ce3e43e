"""A local Stripe that the official ``stripe`` SDK cannot tell from the real one.

``create_app()`` builds the Flask app: the ``/v1/`` API (Checkout Sessions, PaymentIntents,
Charges, Refunds, Disputes, balance transactions, webhook endpoints, events, and Connect:
accounts, Account Links, transfers, the balance), the hosted payment page under ``/c/pay/``,
the hosted Connect onboarding under ``/setup/e/``, and the control API under
``/__emulator__/``. Its :class:`Emulator` is at
``app.extensions["stripe_emulator"]``; call its ``close()`` to stop the webhook thread.
See ``docs/stripe-emulator.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from flask import Flask

from emulator_common import install_request_ids

from .emulator import CARDS, Emulator, Settings
from .ids import new_request_id
from .webhooks import DispatchSettings

__all__ = ["CARDS", "DispatchSettings", "Emulator", "Settings", "create_app"]


def create_app(data_dir: str | Path | None = None, api_keys: Iterable[str] = (),
               webhooks: Iterable[tuple[str, str | None]] = (), *,
               settings: Settings | None = None,
               connect_webhooks: Iterable[tuple[str, str | None]] = ()) -> Flask:
    """Build an emulator app.

    :param data_dir: persist state in ``data_dir/state.json``; ``None`` keeps it in memory.
    :param api_keys: accept only these secret keys (default: any ``sk_test_...``).
    :param webhooks: ``(url, secret)`` endpoints to register for every event type; a
        ``None`` secret is generated.
    :param settings: all tunables (API version, public URL, webhook retry timing).
    :param connect_webhooks: ``(url, secret)`` endpoints made as ``connect=true``: they get
        the events of connected accounts (``account.updated``), and only those.
    """
    settings = settings or Settings()
    keys = tuple(api_keys)
    if keys:
        settings.api_keys = keys
    emulator = Emulator(data_dir, settings)
    for url, secret in webhooks:
        emulator.add_endpoint(url, secret, configured=True)
    for url, secret in connect_webhooks:
        emulator.add_endpoint(url, secret, configured=True, connect=True)

    app = Flask(__name__)
    app.extensions["stripe_emulator"] = emulator
    install_request_ids(app, "Request-Id", new_request_id)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from . import api, connect_routes, control, onboarding, pay, routes  # noqa: F401 (routes modules add to api.bp)

    api.register(app)
    app.register_blueprint(pay.bp)
    app.register_blueprint(onboarding.bp)
    app.register_blueprint(control.bp)
