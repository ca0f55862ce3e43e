"""``flask orders ...``: operator commands on orders that go through the payment provider.

The group lives with the console, not with payments: like the console's own refund it is an
operator's change to money and is written to the audit log (review finding L6), which
belongs to the console, the floor above payments. The refund itself is
:func:`shop.payments.refunds.refund_order`, as for the console.
"""

from __future__ import annotations

import re

import click

from shop.admin import audit
from shop.extensions import db
from shop.formatting import money
from shop.models import Order
from shop.money import plain_cents
from shop.payments.refunds import REASONS, RefundError, refund_order

ORDER_NUMBER = re.compile(r"#?([1-9][0-9]{0,9})")


@click.group("orders")
def orders_cli() -> None:
    """Orders: refunds."""


@orders_cli.command("refund")
@click.argument("order")
@click.option("--amount", help="Refund only this much, e.g. 2.50 (default: everything not yet refunded).")
@click.option("--reason", type=click.Choice(REASONS), help="Stripe's reason for the refund.")
def refund_command(order: str, amount: str | None, reason: str | None) -> None:
    """Refund ORDER, the number the buyer sees ("Order #12": 12 or #12).

    Stripe is asked for the refund; the order changes when Stripe's event arrives: a full
    refund revokes its links, downloads and Dropbox deliveries and mails the buyer, a
    partial one is recorded and keeps access.
    """
    match = ORDER_NUMBER.fullmatch(order.strip())
    if match is None:
        raise click.BadParameter("an order number such as 12 or #12", param_hint="ORDER")
    cents = None
    if amount is not None:
        found = db.session.get(Order, int(match.group(1)))
        cents = plain_cents(amount, found.currency if found is not None else "USD")
        if not cents:
            raise click.BadParameter("an amount such as 2.50", param_hint="--amount")
    order_id = int(match.group(1))
    details: dict[str, object] = {"amount_cents": cents, "reason": reason}
    try:
        result = refund_order(order_id, cents, reason)
    except RefundError as exc:
        db.session.rollback()
        audit.record_command("order.refund.refused", f"order:{order_id}", {**details, "error": str(exc)})
        db.session.commit()
        raise click.ClickException(str(exc)) from exc
    audit.record_command("order.refund", f"order:{order_id}",
                         {**details, "refunded_cents": result.amount_cents, "refund_id": result.refund_id,
                          "provider_status": result.status, "revoked_now": result.revoked_now})
    db.session.commit()
    amount_text = money(result.amount_cents, result.currency)
    if result.refund_id is None:
        state = "refunded and its access revoked" if result.revoked_now else "already refunded"
        click.echo(f"Order #{result.order_id} was not paid through Stripe: it is {state} ({amount_text}).")
        return
    click.echo(f"Asked Stripe to refund {amount_text} of order #{result.order_id}: "
               f"refund {result.refund_id} is {result.status}.")
    click.echo("The order changes when Stripe's event arrives (usually within seconds).")
