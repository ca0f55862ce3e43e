"""The buyer's own session remembers their checkouts until the provider sends them back.

Flask sessions are signed, not encrypted, so the cookie holds only payment references
(a reference opens nothing by itself) and never an order link: on the return leg the
confirming view looks the order up by reference and mints a fresh link server-side.
A reference stays until its order page is reached, so a repeated confirm (a double
click, a reload) also lands on the order page.

The session also carries a random checkout id, set when the pack page shows its form,
that ties a pending order to the browser that started it: repeated buys of one browser,
address and pack reuse that order instead of piling up new ones.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import MutableMapping
from typing import Any

SESSION_KEY = "checkout_refs"
CHECKOUT_ID_KEY = "checkout_id"
MAX_PENDING_IN_SESSION = 5


def remember_checkout(session: MutableMapping[str, Any], payment_ref: str) -> None:
    """Remember ``payment_ref`` (the newest last; at most :data:`MAX_PENDING_IN_SESSION`)."""
    refs = [ref for ref in session.get(SESSION_KEY, []) if ref != payment_ref]
    refs.append(payment_ref)
    session[SESSION_KEY] = refs[-MAX_PENDING_IN_SESSION:]


def is_own_checkout(session: MutableMapping[str, Any], payment_ref: str) -> bool:
    """Whether this browser started the checkout ``payment_ref`` and has not yet seen its order."""
    return payment_ref in session.get(SESSION_KEY, [])


def forget_checkout(session: MutableMapping[str, Any], payment_ref: str) -> None:
    refs = session.get(SESSION_KEY, [])
    if payment_ref in refs:
        remaining = [ref for ref in refs if ref != payment_ref]
        if remaining:
            session[SESSION_KEY] = remaining
        else:
            session.pop(SESSION_KEY)


def own_checkouts(session: MutableMapping[str, Any]) -> list[str]:
    """The payment references this browser started and has not yet seen the order of, newest last."""
    refs = session.get(SESSION_KEY, [])
    return [ref for ref in refs if isinstance(ref, str)] if isinstance(refs, list) else []


def has_checkouts(session: MutableMapping[str, Any]) -> bool:
    return bool(session.get(SESSION_KEY))


def checkout_tag(session: MutableMapping[str, Any]) -> str:
    """A short, stable tag of this browser's checkout id (created on first use).

    It prefixes the payment references of the orders this browser starts, which is how a
    repeated buy finds its own pending order. Only a hash leaves the session.
    """
    checkout_id = session.get(CHECKOUT_ID_KEY)
    if not isinstance(checkout_id, str):
        checkout_id = session[CHECKOUT_ID_KEY] = secrets.token_urlsafe(16)
    return hashlib.sha256(checkout_id.encode()).hexdigest()[:16]
