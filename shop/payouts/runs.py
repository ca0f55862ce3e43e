"""The payout run (``flask payouts run``): one Stripe transfer per artist owed enough.

For each artist whose Stripe account can receive transfers and whose balance in a currency
(:func:`shop.ledger.statements.balances`, the one definition of what they are owed) is at least
the minimum:

1. **decide**: under a lock on the artist, with no payout of theirs pending in that currency,
   write a ``pending`` payout for the whole balance with the idempotency key
   ``payout-<artist>-<currency>-<run key>``, and commit;
2. **send**: create the transfer with that key (and the key as its ``transfer_group``, and the
   payout's id in its metadata);
3. **record**: mark the payout ``sent`` with the transfer's id and add its ledger posting, in one
   transaction (:func:`shop.payouts.records.mark_sent`).

A run killed between 2 and 3 leaves a pending payout; the next run finishes those first: it
looks for the transfer by its ``transfer_group`` (Stripe forgets idempotency keys after a day)
and otherwise repeats the call with the same key, so Stripe answers with the same transfer
rather than a second one. A pending payout also stops a new one for that artist and currency
from being decided. So a run can be repeated or killed at any point: no transfer is made twice
and none is missed. A second run finds every balance paid (zero) and does nothing.

Stripe refusing a transfer (``balance_insufficient``, the account's transfers capability not
active, ...) marks that payout ``failed`` with Stripe's reason and the run goes on with the
others; Stripe unreachable leaves it pending for the next run. Either way the run reports
failure (the command exits non-zero). A negative balance (a refund after a payout) is left
alone: later earnings pay it back first, and the next payout is that much smaller.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import stripe
from sqlalchemy import select
from stripe.params import TransferCreateParams

from shop.artists import Artist, PayoutMethod
from shop.currencies import UnknownCurrency, get_currency
from shop.extensions import db
from shop.formatting import money
from shop.ledger.models import Payout, PayoutStatus
from shop.ledger.statements import balances
from shop.models import utcnow
from shop.payments.stripe_api import StripeNotConfigured, stripe_client
from shop.payouts.records import lock_artist, mark_failed, mark_sent

log = logging.getLogger(__name__)

DEFAULT_MINIMUM = "10.00"
_MINIMUM_SHAPE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,3})?")
# Stripe's answers that mean "this transfer will not be made": the payout failed. Anything else
# (no connection, a timeout, Stripe's own 500, a key in use) may or may not have made it: the
# payout stays pending and the next run asks again with the same key.
REFUSALS = (stripe.InvalidRequestError, stripe.PermissionError, stripe.AuthenticationError, stripe.CardError)


class RunError(ValueError):
    """The run's options are wrong; nothing was done."""


def parse_minimum(text: str, currency: str) -> int:
    """``"10.00"`` in ``currency``'s minor unit (``"USD"``: 1000, ``"JPY"``: 10, ``"KWD"``: 10000).

    :raises RunError: for anything but a plain amount that ``currency`` can express.
    """
    stripped = text.strip()
    if not _MINIMUM_SHAPE.fullmatch(stripped):
        raise RunError(f"--minimum must be a plain amount such as 10.00, not {text!r}")
    scaled = Decimal(stripped) * get_currency(currency).per_unit
    if scaled != scaled.to_integral_value():
        raise RunError(f"--minimum {stripped} is not a whole amount of {currency}'s smallest unit")
    return int(scaled)


def new_run_key() -> str:
    """When the run started, and a little randomness so two runs started in one second differ."""
    return f"{utcnow():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def idempotency_key(artist_id: int, currency: str, run_key: str) -> str:
    return f"payout-{artist_id}-{currency}-{run_key}"


@dataclass(frozen=True)
class Owed:
    """An artist the run would pay: their whole balance in one currency."""

    artist_id: int
    artist_name: str
    account_id: str
    currency: str
    amount_cents: int


@dataclass(frozen=True)
class Outcome:
    payout_id: int
    artist_id: int
    artist_name: str
    currency: str
    amount_cents: int
    status: str
    transfer_id: str | None = None
    error: str | None = None
    resumed: bool = False


@dataclass
class RunResult:
    run_key: str
    dry_run: bool
    #: A dry run: the pending payouts the run would finish, and what it would pay.
    would_finish: list[Payout] = field(default_factory=list)
    would_pay: list[Owed] = field(default_factory=list)
    #: A real run: every payout it finished or made, as it ended.
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(outcome.status == PayoutStatus.SENT.value for outcome in self.outcomes)


def _eligible(artist: Artist) -> bool:
    return bool(artist.payouts_enabled and artist.stripe_account_id
                and artist.payout_method == PayoutMethod.STRIPE.value)


def owed(minimum: str, currency: str | None = None, less: dict[tuple[int, str], int] | None = None) -> list[Owed]:
    """Every Stripe artist's balance at or above ``minimum`` (in each currency's own units),
    in artist and currency order; ``less``: amounts by ``(artist, currency)`` that are already
    on their way (pending payouts), taken off first.

    :raises RunError: for an unknown currency or a minimum some owed currency cannot express.
    """
    if currency is not None:
        try:
            currency = get_currency(currency).code
        except UnknownCurrency as exc:
            raise RunError(f"--currency: {exc}") from None
    less = less or {}
    totals = {key: amount - less.get(key, 0) for key, amount in balances().items()
              if currency is None or key[1] == currency}
    minimums = {code: parse_minimum(minimum, code) for code in sorted({c for _, c in totals} | {currency or "USD"})}
    artists = {a.id: a for a in db.session.scalars(select(Artist).where(Artist.id.in_({a for a, _ in totals})))}
    found = []
    for (artist_id, code), amount in sorted(totals.items()):
        artist = artists.get(artist_id)
        if artist is None or not _eligible(artist) or amount <= 0 or amount < minimums[code]:
            continue
        assert artist.stripe_account_id is not None
        found.append(Owed(artist.id, artist.name, artist.stripe_account_id, code, amount))
    return found


def pending_payouts() -> list[Payout]:
    """Stripe payouts decided and not known to be sent (a run was killed or Stripe unreachable)."""
    return list(db.session.scalars(select(Payout).where(Payout.status == PayoutStatus.PENDING.value,
                                                        Payout.method == PayoutMethod.STRIPE.value)
                                   .order_by(Payout.id)))


def decide(item: Owed, minimum_cents: int, run_key: str) -> Payout | None:
    """Write (and commit) the pending payout for ``item``, re-checked under the artist's lock:
    ``None`` when another run got there first (a payout pending, or the balance already paid)."""
    lock_artist(item.artist_id)
    artist = db.session.get(Artist, item.artist_id)
    if artist is not None:
        db.session.refresh(artist)
    pending = db.session.scalar(select(Payout.id).where(
        Payout.artist_id == item.artist_id, Payout.currency == item.currency,
        Payout.status == PayoutStatus.PENDING.value).limit(1))
    amount = balances(item.artist_id).get((item.artist_id, item.currency), 0)
    if artist is None or not _eligible(artist) or pending is not None or amount <= 0 or amount < minimum_cents:
        db.session.rollback()
        return None
    payout = Payout(artist_id=item.artist_id, currency=item.currency, amount_cents=amount,
                    method=PayoutMethod.STRIPE.value, status=PayoutStatus.PENDING.value, run_key=run_key,
                    idempotency_key=idempotency_key(item.artist_id, item.currency, run_key))
    db.session.add(payout)
    db.session.commit()
    return payout


def _transfer_made_for(payout: Payout, account_id: str) -> stripe.Transfer | None:
    """The transfer an earlier, interrupted run made for ``payout``, found by its group."""
    assert payout.idempotency_key is not None
    transfers = stripe_client().v1.transfers.list(params={"transfer_group": payout.idempotency_key, "limit": 10})
    for transfer in transfers.data:
        metadata: Any = transfer.metadata or {}
        if transfer.destination == account_id and "payout_id" in metadata and \
                str(metadata["payout_id"]) == str(payout.id):
            return transfer
    return None


def _describe(exc: stripe.StripeError) -> str:
    code = getattr(exc, "code", None)
    message = exc.user_message or str(exc) or type(exc).__name__
    return f"{code}: {message}" if code else message


def transfer_params(payout: Payout, account_id: str) -> TransferCreateParams:
    """What is asked of Stripe for ``payout``: the same every time (the idempotency key's replay
    needs the same parameters)."""
    assert payout.idempotency_key is not None
    return {
        "amount": payout.amount_cents,
        "currency": payout.currency.lower(),
        "destination": account_id,
        "transfer_group": payout.idempotency_key,
        "description": f"Payout #{payout.id}",
        "metadata": {"payout_id": str(payout.id), "artist_id": str(payout.artist_id)},
    }


def send(payout: Payout, resumed: bool = False) -> Outcome:
    """Transfer ``payout`` (pending, committed) to the artist's account and record the result."""
    artist = payout.artist
    def outcome(status: str, transfer_id: str | None = None, error: str | None = None) -> Outcome:
        return Outcome(payout.id, artist.id, artist.name, payout.currency, payout.amount_cents, status,
                       transfer_id, error, resumed)

    account_id = artist.stripe_account_id
    if not account_id:
        mark_failed(payout.id, "the artist has no Stripe account")
        return outcome(PayoutStatus.FAILED.value, error="the artist has no Stripe account")
    assert payout.idempotency_key is not None
    params = transfer_params(payout, account_id)
    try:
        transfer = _transfer_made_for(payout, account_id) if resumed else None
        if transfer is None:
            transfer = stripe_client().v1.transfers.create(params=params,
                                                           options={"idempotency_key": payout.idempotency_key})
    except REFUSALS as exc:
        error = _describe(exc)
        mark_failed(payout.id, error)
        log.warning("payout %s to artist %s failed: %s", payout.id, artist.id, error)
        return outcome(PayoutStatus.FAILED.value, error=error)
    except (stripe.StripeError, StripeNotConfigured) as exc:
        error = _describe(exc) if isinstance(exc, stripe.StripeError) else str(exc)
        db.session.rollback()
        log.warning("payout %s to artist %s not sent yet (the next run asks again): %s", payout.id, artist.id, error)
        return outcome(PayoutStatus.PENDING.value, error=error)
    if not mark_sent(payout.id, transfer.id):
        db.session.refresh(payout)
        return outcome(payout.status, payout.reference, payout.error)
    log.info("payout %s: %s to artist %s, transfer %s", payout.id, money(payout.amount_cents, payout.currency),
             artist.id, transfer.id)
    return outcome(PayoutStatus.SENT.value, transfer.id)


def run(minimum: str = DEFAULT_MINIMUM, currency: str | None = None, dry_run: bool = False,
        report: Callable[[str], None] | None = None) -> RunResult:
    """One payout run (see the module's docstring); ``report`` is told each step as it happens.

    :raises RunError: for bad options (nothing done).
    """
    say = report or (lambda _line: None)
    minimum_cents: dict[str, int] = {}
    pending = pending_payouts()
    on_the_way: dict[tuple[int, str], int] = {}
    for payout in pending:
        key = (payout.artist_id, payout.currency)
        on_the_way[key] = on_the_way.get(key, 0) + payout.amount_cents
    to_pay = owed(minimum, currency, on_the_way)  # checks the options before anything is sent
    result = RunResult(new_run_key(), dry_run)
    if dry_run:
        result.would_finish = pending
        result.would_pay = to_pay
        for payout in result.would_finish:
            say(f"would finish pending payout #{payout.id}: {money(payout.amount_cents, payout.currency)} "
                f"to {payout.artist.name}")
        for item in to_pay:
            say(f"would pay {money(item.amount_cents, item.currency)} to {item.artist_name} ({item.account_id})")
        db.session.rollback()
        return result
    db.session.commit()
    for payout in pending:
        result.outcomes.append(_said(say, send(payout, resumed=True)))
    for item in owed(minimum, currency):  # again: the pending payouts just sent changed balances
        cents = minimum_cents.setdefault(item.currency, parse_minimum(minimum, item.currency))
        decided = decide(item, cents, result.run_key)
        if decided is not None:
            result.outcomes.append(_said(say, send(decided)))
    return result


def _said(say: Callable[[str], None], outcome: Outcome) -> Outcome:
    amount = money(outcome.amount_cents, outcome.currency)
    what = f"payout #{outcome.payout_id}{' (from an earlier run)' if outcome.resumed else ''}: {amount} to " \
           f"{outcome.artist_name}"
    if outcome.status == PayoutStatus.SENT.value:
        say(f"sent {what}, transfer {outcome.transfer_id}")
    elif outcome.status == PayoutStatus.FAILED.value:
        say(f"FAILED {what}: {outcome.error}")
    else:
        say(f"NOT SENT {what}: {outcome.error} (left pending: the next run tries again)")
    return outcome
