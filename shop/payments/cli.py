"""``flask orders ...``: operator commands on orders that go through the payment provider.

The group is named after what the operator acts on, but it lives with payments: a refund
asks the provider, and the orders package sits below payments in the floor plan.
"""

from __future__ import annotations

import re

import click

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
    try:
        result = refund_order(int(match.group(1)), cents, reason)
    except RefundError as exc:
        raise click.ClickException(str(exc)) from exc
    amount_text = money(result.amount_cents, result.currency)
    if result.refund_id is None:
        state = "refunded and its access revoked" if result.revoked_now else "already refunded"
        click.echo(f"Order #{result.order_id} was not paid through Stripe: it is {state} ({amount_text}).")
        return
    click.echo(f"Asked Stripe to refund {amount_text} of order #{result.order_id}: "
               f"refund {result.refund_id} is {result.status}.")
    click.echo("The order changes when Stripe's event arrives (usually within seconds).")
