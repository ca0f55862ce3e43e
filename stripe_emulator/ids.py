"""Stripe-shaped identifiers: a type prefix and random letters and digits."""

from __future__ import annotations

from emulator_common import random_token


def new_id(prefix: str) -> str:
    """``cs_test_`` ids are long like the real ones; the others have 24 random characters."""
    return random_token(58 if prefix == "cs_test_" else 24, prefix)


def new_request_id() -> str:
    return random_token(14, "req_")


def new_webhook_secret() -> str:
    return random_token(32, "whsec_")
