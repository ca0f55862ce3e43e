"""The store's Stripe client: real Stripe, or the emulator named by ``STRIPE_API_URL``.

Only the base address differs between the two; every call goes through the official SDK.
"""

from __future__ import annotations

import stripe
from flask import current_app

PROVIDER = "stripe"
# Stripe answers in well under a second; a webhook or a buyer's request should not hang on it.
TIMEOUT_SECONDS = 15
NETWORK_RETRIES = 2


class StripeNotConfigured(RuntimeError):
    """``SHOP_STRIPE_SECRET_KEY`` is not set."""


def stripe_client() -> stripe.StripeClient:
    """The app's client, made once per app (the SDK's HTTP client keeps a session per thread).

    :raises StripeNotConfigured: without ``STRIPE_SECRET_KEY``.
    """
    config = current_app.config
    key = config.get("STRIPE_SECRET_KEY")
    if not key:
        raise StripeNotConfigured("SHOP_STRIPE_SECRET_KEY is not set")
    api_url = config.get("STRIPE_API_URL")
    cache_key = (key, api_url)
    cached = current_app.extensions.get("stripe_client")
    if cached is not None and cached[0] == cache_key:
        client: stripe.StripeClient = cached[1]
        return client
    client = stripe.StripeClient(
        key,
        base_addresses={"api": api_url.rstrip("/")} if api_url else None,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        max_network_retries=NETWORK_RETRIES,
    )
    current_app.extensions["stripe_client"] = (cache_key, client)
    return client


def object_id(value: object) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None
