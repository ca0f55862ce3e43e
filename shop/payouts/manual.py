"""Payouts the operator made by hand (bank transfer, PayPal, cash at the show), recorded from
the console: a ``manual`` payout, ``sent`` at once, with its ledger posting.

What an operator types is checked here and refused with a sentence saying what is wrong:
an amount that is not a plain positive number of the currency, a currency the store does not
know, a method or reference holding control characters, and an amount above what the artist is
owed unless the operator says so explicitly (``over_balance``: their balance then goes negative
and their next earnings pay it back first). Each form carries a one-time value (``once``) that
becomes the payout's idempotency key, so a double submit records one payout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from shop.artists import Artist, PayoutMethod
from shop.currencies import STRIPE_MAXIMUM, UnknownCurrency, example, get_currency, parse_minor
from shop.extensions import db
from shop.formatting import money
from shop.ledger.models import Payout, PayoutStatus
from shop.ledger.statements import balances
from shop.models import utcnow
from shop.payouts.records import add_posting, lock_artist
from shop.text_safety import refusal

METHOD_MAX = 100
REFERENCE_MAX = 200
ONCE_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class ManualPayoutRefused(ValueError):
    """Nothing was recorded; ``str(exc)`` tells the operator why."""


@dataclass(frozen=True)
class ManualPayoutForm:
    amount: str
    currency: str
    method: str
    reference: str
    once: str
    over_balance: bool = False


def _checked(form: ManualPayoutForm) -> tuple[str, int, str, str]:
    try:
        currency = get_currency(form.currency.strip()).code
    except UnknownCurrency:
        raise ManualPayoutRefused(f"{form.currency.strip()[:10]!r} is not a currency the store knows.") from None
    typed = form.amount.strip()
    if typed.startswith("-"):
        raise ManualPayoutRefused("The amount must be more than zero: a payout is money paid to the artist.")
    amount = parse_minor(typed, currency)
    if amount is None:
        raise ManualPayoutRefused(f"Type the amount as a plain number of {currency}, such as {example(currency)}.")
    if amount <= 0:
        raise ManualPayoutRefused("The amount must be more than zero: a payout is money paid to the artist.")
    if amount > STRIPE_MAXIMUM:
        largest = money(STRIPE_MAXIMUM, currency)
        raise ManualPayoutRefused(f"That is more than the largest amount the store records ({largest}).")
    method, reference = form.method.strip(), form.reference.strip()
    if not method:
        raise ManualPayoutRefused("Say how the artist was paid (bank transfer, PayPal, ...).")
    if len(method) > METHOD_MAX or len(reference) > REFERENCE_MAX:
        raise ManualPayoutRefused(f"The method may be {METHOD_MAX} characters long and the reference {REFERENCE_MAX}.")
    problem = refusal("method", method) or refusal("reference", reference)
    if problem:
        raise ManualPayoutRefused(problem[0].upper() + problem[1:] + ".")
    if not ONCE_SHAPE.fullmatch(form.once):
        raise ManualPayoutRefused("This form is out of date: reload the page and fill it in again.")
    return currency, amount, method, reference


def record_manual_payout(artist: Artist, form: ManualPayoutForm, operator_id: int | None) -> Payout:
    """Record a payout the operator made by hand, with its posting (flushed; the caller audits
    and commits).

    :raises ManualPayoutRefused: for anything wrong in ``form``, or an amount above what the
        artist is owed without ``over_balance``; nothing is written.
    """
    currency, amount, method, reference = _checked(form)
    key = f"manual-{artist.id}-{form.once}"
    lock_artist(artist.id)
    if db.session.scalar(db.select(Payout.id).where(Payout.idempotency_key == key)) is not None:
        db.session.rollback()
        raise ManualPayoutRefused("That payout was already recorded (the form was sent twice).")
    owed = balances(artist.id).get((artist.id, currency), 0)
    if amount > owed and not form.over_balance:
        db.session.rollback()
        raise ManualPayoutRefused(
            f"{money(amount, currency)} is more than the {money(owed, currency)} {artist.name} is owed in "
            f"{currency}. Tick \u201cmore than is owed\u201d to record it anyway: their balance goes below zero "
            "and their next earnings pay it back first.")
    now = utcnow()
    payout = Payout(artist_id=artist.id, currency=currency, amount_cents=amount, method=PayoutMethod.MANUAL.value,
                    status=PayoutStatus.SENT.value, run_key=None, idempotency_key=key, reference=reference or None,
                    note=method, operator_id=operator_id, sent_at=now)
    db.session.add(payout)
    try:
        db.session.flush()
    except IntegrityError:  # the same form, sent twice at once
        db.session.rollback()
        raise ManualPayoutRefused("That payout was already recorded (the form was sent twice).") from None
    add_posting(payout, now)
    db.session.flush()
    return payout
