"""The ``Stripe-Signature`` header, computed exactly as Stripe does."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, timestamp: int, payload: str) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` keyed with the endpoint secret."""
    message = f"{timestamp}.{payload}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, payload: str) -> str:
    """``t=<unix seconds>,v1=<signature>``, what ``stripe.Webhook.construct_event`` checks."""
    return f"t={timestamp},v1={signature(secret, timestamp, payload)}"
