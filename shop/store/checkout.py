"""Starting a purchase: validate the form, write the order, hand over to the provider."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from shop.email_address import EmailError, normalize_email
from shop.extensions import db
from shop.models import Order, OrderStatus, Pack
from shop.payments.providers import get_provider
from shop.store.money import AmountError, parse_amount


@dataclass
class PurchaseResult:
    errors: dict[str, str] = field(default_factory=dict)
    order: Order | None = None
    checkout_url: str | None = None


def start_purchase(pack: Pack, amount: str | None, email: str | None) -> PurchaseResult:
    """Validate ``amount`` and ``email``; on success create a pending order.

    Nothing is written when any field is wrong. No order link is minted here: the buyer
    gets one when payment brings them back.
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
    if result.errors:
        return result

    provider = get_provider()
    order = Order(
        pack=pack,
        email=address,
        amount_cents=cents,
        currency=pack.currency,
        status=OrderStatus.PENDING.value,
        payment_provider=provider.name,
        payment_ref=provider.new_reference(),
    )
    db.session.add(order)
    db.session.commit()
    result.order = order
    result.checkout_url = provider.start_checkout(order)
    return result
