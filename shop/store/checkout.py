"""Starting a purchase: validate the form, write (or reuse) the order, hand over to the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from shop import ratelimit
from shop.email_address import EmailError, normalize_email
from shop.extensions import db
from shop.formatting import money
from shop.models import Order, OrderStatus, Pack, utcnow
from shop.payments.providers import AmountRefused, get_provider
from shop.store.money import AmountError, parse_amount
from shop.store.paybox import Choice

# A buyer who goes back and buys again within this long continues their pending order.
REUSE_PENDING_FOR = timedelta(hours=1)


class TooManyPurchases(RuntimeError):
    """The client started more purchases than ``BUYS_PER_CLIENT`` in the last hour."""


@dataclass
class PurchaseResult:
    errors: dict[str, str] = field(default_factory=dict)
    order: Order | None = None
    checkout_url: str | None = None


def start_purchase(pack: Pack, amount: str | None, email: str | None, *, checkout_tag: str,
                   client: str, paybox: Choice | None = None) -> PurchaseResult:
    """Validate ``amount`` and ``email``; on success create a pending order, or reuse one.

    Nothing is written when any field is wrong. A pending order of the same checkout
    session (``checkout_tag``), address and pack made within :data:`REUSE_PENDING_FOR`
    is reused with the new amount, so repeated or concurrent submits make one order.
    No order link is minted here: the buyer gets one when payment brings them back.

    :param checkout_tag: the buyer's session tag (it prefixes the payment reference).
    :param client: the client's address, for the ``BUYS_PER_CLIENT`` rate limit.
    :param paybox: the pay box's split and threshold (:mod:`shop.store.paybox`): its errors
        join the form's, and it writes the split and the bonus decision on the order.
    :raises TooManyPurchases: over the rate limit (nothing written).
    :raises PaymentsUnavailable: when no payment provider is configured.
    """
    result = PurchaseResult()
    cents = 0
    try:
        cents = parse_amount(
            amount,
            minimum_cents=pack.min_price_cents,
            maximum_cents=current_app.config["MAX_AMOUNT_CENTS"],
            currency=pack.currency,
        )
    except AmountError as exc:
        result.errors["amount"] = str(exc)
    try:
        address = normalize_email(email)
    except EmailError as exc:
        result.errors["email"] = str(exc)
    if paybox is not None:
        result.errors.update(paybox.errors)
    if result.errors:
        return result

    provider = get_provider()
    # Committed at once, and the client's lock with it: every buyer behind one address (a NAT,
    # an office, a launch crowd on one carrier) waits for that lock, so it covers the count only.
    if not ratelimit.allow_at_once(f"buy:client:{client}", current_app.config["BUYS_PER_CLIENT"]):
        raise TooManyPurchases(client)
    # This browser's buys take turns until the commit below, so concurrent submits cannot both
    # miss the pending order and both insert one.
    ratelimit.take_turn(f"buy:checkout:{checkout_tag}")
    order = _recent_pending_order(pack, address, provider.name, checkout_tag)
    if order is None:
        order = Order(
            pack=pack,
            email=address,
            amount_cents=cents,
            currency=pack.currency,
            status=OrderStatus.PENDING.value,
            payment_provider=provider.name,
            payment_ref=provider.new_reference(prefix=checkout_tag),
        )
        db.session.add(order)
    else:
        order.amount_cents = cents
    if paybox is not None:
        paybox.apply(order)
    db.session.commit()
    try:
        result.checkout_url = provider.start_checkout(order)
    except AmountRefused:
        # Stripe's own minimum for a currency whose minimum it does not publish.
        result.errors["amount"] = (f"Our card processor cannot take {money(cents, pack.currency)} in "
                                   f"{pack.currency}. Please choose a higher amount.")
        return result
    result.order = order
    return result


def cancelled_order(pack: Pack, payment_refs: list[str]) -> Order | None:
    """The newest pending order of ``pack`` among this browser's checkouts (``payment_refs``),
    whose payment the buyer just cancelled, or ``None``."""
    if not payment_refs:
        return None
    return db.session.scalar(
        select(Order)
        .where(Order.pack_id == pack.id, Order.status == OrderStatus.PENDING.value,
               Order.payment_ref.in_(payment_refs))
        .order_by(Order.id.desc())
        .limit(1)
    )


def _recent_pending_order(pack: Pack, address: str, provider: str, checkout_tag: str) -> Order | None:
    return db.session.scalar(
        select(Order)
        .where(
            Order.pack_id == pack.id,
            Order.email == address,
            Order.status == OrderStatus.PENDING.value,
            Order.payment_provider == provider,
            Order.payment_ref.startswith(f"{checkout_tag}.", autoescape=True),
            Order.created_at >= utcnow() - REUSE_PENDING_FOR,
        )
        .order_by(Order.id.desc())
        .limit(1)
    )
