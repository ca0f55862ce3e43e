"""The buyer's own session remembers a checkout until the payment provider sends them back.

The return leg of a checkout is a payments concern: the confirming view (or, later, the
provider's success URL) looks here for the link to send the buyer on to.
"""

from __future__ import annotations

from collections.abc import MutableMapping

SESSION_KEY = "checkout_tokens"
MAX_PENDING_IN_SESSION = 5


def remember_checkout_token(session: MutableMapping, payment_ref: str, token: str) -> None:
    """Keep the raw link token in the buyer's own session until payment returns them."""
    tokens = dict(session.get(SESSION_KEY, {}))
    tokens[payment_ref] = token
    while len(tokens) > MAX_PENDING_IN_SESSION:
        tokens.pop(next(iter(tokens)))
    session[SESSION_KEY] = tokens


def checkout_token(session: MutableMapping, payment_ref: str) -> str | None:
    """The token remembered for ``payment_ref``; kept, so a repeated confirm lands the same."""
    return session.get(SESSION_KEY, {}).get(payment_ref)
