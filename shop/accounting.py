"""What a pack's orders brought in: one definition of the money, for every page, CSV and command.

All amounts are integers in the order's currency's minor unit. An order counts once it has
been paid (``paid``, ``refunded`` or ``disputed``); a pending order counts nowhere.

* **gross**: what buyers paid, the full amount of every paid order, whatever happened after.
* **refunded**: what went back to buyers: partial refunds (``refunded_cents`` of an order that
  stays paid) and full ones (the whole amount of an order in ``refunded``).
* **disputed**: what a card dispute holds back, per order the amount left after its refunds,
  for orders in ``disputed``: an **open** dispute (Stripe has already taken the money back
  while the bank decides; shown as "at risk", since it returns if the dispute is won) and a
  **lost** one (gone for good). A **won** dispute deducts nothing: the order is paid again.
* **net** = gross − refunded − disputed (open and lost): what the store holds now. It equals
  the sum over orders in good standing (``paid``) of their amount less partial refunds, which
  is the total the public pack page shows (:func:`pack_stats`).
* **average** = net ÷ the number of orders in good standing, rounded half up to the cent
  (:func:`shop.money.average_cents`), the pack page's "average price" as well.

Stripe's fees (and dispute fees) are not in these figures; the ledger records them, per party
(:mod:`shop.ledger`, docs/money.md).
The same rules exist twice, as SQL expressions for totals summed in the database and as
:func:`order_money` for one order already loaded; the test suite checks they agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute

from shop.extensions import db
from shop.models import CODE_PROVIDER, DisputeStatus, Order, OrderStatus
from shop.money import average_cents


def is_sale() -> ColumnElement[bool]:
    """An order that was bought, not redeemed from a download code (code orders carry no money
    and are counted apart, by their batches)."""
    return Order.payment_provider != CODE_PROVIDER


#: The statuses of an order that was paid at some point (named, so that a status added later,
#: such as a payment still on its way, counts nowhere until it is given a place here).
SOLD_STATUSES = (OrderStatus.PAID.value, OrderStatus.REFUNDED.value, OrderStatus.DISPUTED.value)
#: An order that was paid at some point (what gross counts).
#: Orders redeemed from download codes carry no money and never count here (:func:`is_sale`).
SOLD: ColumnElement[bool] = Order.status.in_(SOLD_STATUSES) & is_sale()
#: An order that still gives its buyer the music (paid, not fully refunded, not under dispute).
IN_GOOD_STANDING: ColumnElement[bool] = (Order.status == OrderStatus.PAID.value) & is_sale()
REFUNDED: ColumnElement[int] = case(
    (Order.status == OrderStatus.REFUNDED.value, Order.amount_cents), else_=Order.refunded_cents)
DISPUTED: ColumnElement[int] = case(
    (Order.status == OrderStatus.DISPUTED.value, Order.amount_cents - Order.refunded_cents), else_=0)
DISPUTE_LOST: ColumnElement[bool] = Order.dispute_status == DisputeStatus.LOST.value
NET: ColumnElement[int] = Order.amount_cents - REFUNDED - DISPUTED


@dataclass(frozen=True)
class OrderMoney:
    """One order's figures (all zero until it is paid)."""

    gross_cents: int
    refunded_cents: int
    disputed_cents: int
    dispute: str | None  # open, won or lost; None when there was none
    net_cents: int


def order_money(order: Order) -> OrderMoney:
    """The figures of one loaded order, by the rules in this module's docstring."""
    if order.status not in SOLD_STATUSES or order.payment_provider == CODE_PROVIDER:
        return OrderMoney(0, 0, 0, order.dispute_status, 0)
    gross = order.amount_cents
    refunded = gross if order.status == OrderStatus.REFUNDED.value else (order.refunded_cents or 0)
    disputed = gross - (order.refunded_cents or 0) if order.status == OrderStatus.DISPUTED.value else 0
    return OrderMoney(gross, refunded, disputed, order.dispute_status, gross - refunded - disputed)


@dataclass(frozen=True)
class PackMoney:
    """A pack's figures; see the module docstring for what each one means."""

    sales: int  # orders paid at some point
    kept: int  # of those, orders in good standing (the average's divisor)
    gross_cents: int
    refunds: int  # orders with any refund, partial or full
    refunded_cents: int
    disputes_open: int
    disputed_open_cents: int
    disputes_lost: int
    disputed_lost_cents: int
    disputes_won: int
    net_cents: int

    @property
    def disputed_cents(self) -> int:
        return self.disputed_open_cents + self.disputed_lost_cents

    @property
    def average_cents(self) -> int:
        return average_cents(self.net_cents, self.kept)


NOTHING = PackMoney(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def _columns() -> list[ColumnElement[Any]]:
    def total(expression: ColumnElement[Any] | InstrumentedAttribute[int]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(expression), 0)

    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    lost = (Order.status == OrderStatus.DISPUTED.value) & DISPUTE_LOST
    still_open = (Order.status == OrderStatus.DISPUTED.value) & ~DISPUTE_LOST
    return [
        func.count(Order.id), count(IN_GOOD_STANDING), total(Order.amount_cents),
        count(REFUNDED > 0), total(REFUNDED),
        count(still_open), total(case((still_open, DISPUTED), else_=0)),
        count(lost), total(case((lost, DISPUTED), else_=0)),
        count(Order.dispute_status == DisputeStatus.WON.value), total(NET),
    ]


def _pack_money(row: Iterable[Any]) -> PackMoney:
    return PackMoney(*(int(value) for value in row))


def pack_money(pack_id: int) -> PackMoney:
    """The figures of one pack, in one query."""
    row = db.session.execute(select(*_columns()).where(Order.pack_id == pack_id, SOLD)).one()
    return _pack_money(row)


def packs_money() -> dict[int, PackMoney]:
    """The figures of every pack that sold something, by pack id, in one query."""
    rows = db.session.execute(
        select(Order.pack_id, *_columns()).where(SOLD).group_by(Order.pack_id)
    ).tuples()
    return {int(pack_id): _pack_money(rest) for pack_id, *rest in rows}


def pack_stats(pack_id: int) -> tuple[int, int, int]:
    """``(purchases, total_cents, average_cents)`` over the pack's paid sales, net of partial refunds.

    Refunded and disputed orders do not count, nor do orders from download codes, so the total
    is the pack's net and the average its average as this module defines them (rounded half up
    to the cent): what the public pack page shows.
    """
    count, total = db.session.execute(
        select(func.count(Order.id),
               func.coalesce(func.sum(Order.amount_cents - Order.refunded_cents), 0)).where(
            Order.pack_id == pack_id, Order.status == OrderStatus.PAID.value, is_sale()
        )
    ).one()
    count, total = int(count), int(total)
    return count, total, average_cents(total, count)
