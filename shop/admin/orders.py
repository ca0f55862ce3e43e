"""Finding orders and acting on them for an operator. No request objects here.

Each action commits its change together with its audit row (the caller passes the
operator and address), then mails when there is something to mail: a link in a mail
always works.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from shop.accounting import OrderMoney, order_money
from shop.admin import audit
from shop.admin.models import Operator
from shop.catalog.pack_settings import InvalidPackSetting, parse_price
from shop.currencies import format_plain
from shop.downloads.models import DownloadCount
from shop.dropbox.models import Delivery
from shop.email_address import normalize_email
from shop.extensions import db
from shop.gifts.service import deliver, gift_of
from shop.mail import MailError
from shop.models import DisputeStatus, Order, OrderLink, OrderStatus, Pack, utcnow
from shop.order_links import mint_link
from shop.orders.receipts import send_receipt
from shop.payments.lookup import CHARGE_ID, LookupUnavailable, order_id_for_charge
from shop.payments.models import CheckoutSession
from shop.payments.refunds import REASONS, RefundError, refund_order
from shop.splits import order_split

SEARCH_LIMIT = 100
ORDER_NUMBER = re.compile(r"#?\s*(\d{1,10})")
GRANT_PROVIDER = "grant"
REFUND_REASONS = REASONS

log = logging.getLogger(__name__)


class ActionError(ValueError):
    """An action that cannot be done on this order; ``str(exc)`` says why, for the operator."""


@dataclass(frozen=True)
class SearchResult:
    orders: list[Order]
    #: Said to the operator next to the results (e.g. Stripe could not be asked about a charge).
    notice: str | None = None


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its ``%``, ``_`` and ``\\`` taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(query: str, limit: int = SEARCH_LIMIT) -> SearchResult:
    """Orders found by ``query``, newest first.

    * A number (``12`` or ``#12``) is an order number (or a whole payment reference).
    * A Stripe charge id (``ch_…``, ``py_…``), which the store does not keep, is looked up
      at Stripe (:func:`shop.payments.lookup.order_id_for_charge`).
    * Anything else is matched, case-insensitively and anywhere, against the buyer's e-mail,
      the payment reference and the Stripe ids kept on the order (the PaymentIntent
      ``pi_…`` and the Checkout Session ``cs_…``). ``%`` and ``_`` match themselves.
    """
    text = query.strip()
    if not text:
        return SearchResult([])
    if "\x00" in text:
        return SearchResult([], "A search cannot contain a NUL character.")
    number = ORDER_NUMBER.fullmatch(text)
    notice = None
    if number:
        # A number is an order number (or a whole payment reference), not a fragment of every
        # address and reference that happens to contain those digits.
        conditions = [Order.payment_ref == text]
        if int(number.group(1)) <= 2_147_483_647:
            conditions.append(Order.id == int(number.group(1)))
    else:
        pattern = _like(text.lower())
        conditions = [func.lower(column).like(pattern, escape="\\") for column in (
            Order.email, Order.payment_ref, Order.payment_intent_id, Order.checkout_session_id)]
        if CHARGE_ID.fullmatch(text):
            try:
                charged = order_id_for_charge(text)
            except LookupUnavailable as exc:
                notice = f"Stripe could not be asked about charge {text}: {exc}."
            else:
                if charged is not None:
                    conditions.append(Order.id == charged)
    orders = db.session.scalars(
        select(Order).options(selectinload(Order.pack)).where(or_(*conditions))
        .order_by(Order.id.desc()).limit(limit)
    )
    return SearchResult(list(orders), notice)


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    money: OrderMoney
    links: list[OrderLink]
    downloads: list[DownloadCount]
    deliveries: list[Delivery]
    checkouts: list[CheckoutSession]


def detail(order: Order) -> OrderDetail:
    links = db.session.scalars(
        select(OrderLink).where(OrderLink.order_id == order.id)
        .order_by(OrderLink.created_at.desc(), OrderLink.id.desc())
    ).all()
    downloads = db.session.scalars(
        select(DownloadCount).where(DownloadCount.order_id == order.id)
        .order_by(DownloadCount.last_at.desc(), DownloadCount.id)
    ).all()
    deliveries = db.session.scalars(
        select(Delivery).where(Delivery.order_id == order.id).order_by(Delivery.created_at.desc(), Delivery.id.desc())
    ).all()
    checkouts = db.session.scalars(
        select(CheckoutSession).where(CheckoutSession.order_id == order.id).order_by(CheckoutSession.id.desc())
    ).all()
    return OrderDetail(order, order_money(order), list(links), list(downloads), list(deliveries), list(checkouts))


def _paid(order: Order) -> None:
    if not order.is_paid:
        raise ActionError(f"order #{order.id} is {order.status}: only paid orders get links")


def _mail_receipt(order: Order, token: str) -> bool:
    """Send the receipt; False when the mail server refused (the operator is told, nothing rolls back)."""
    try:
        send_receipt(order, token)
    except MailError:
        log.exception("receipt for order %s could not be sent", order.id)
        return False
    return True


def resend_receipt(order: Order, operator: Operator, ip: str | None) -> bool:
    """Mint one more link (earlier ones keep working) and mail the receipt with it; False
    when the mail could not be sent (the link and the audit row stay).

    :raises ActionError: for an order that is not paid, or a gift (its links are the recipient's).
    """
    _paid(order)
    if gift_of(order.id) is not None:
        raise ActionError(f"order #{order.id} is a gift: its links go to the recipient (Send the recipient a new link)")
    token = mint_link(order)
    audit.record(operator, "order.resend_receipt", f"order:{order.id}", {"email": order.email}, ip)
    db.session.commit()
    return _mail_receipt(order, token)


def replace_links(order: Order, operator: Operator, ip: str | None) -> tuple[int, bool]:
    """Revoke every live link of the order, mint a new one and mail it.

    :returns: how many links were revoked, and whether the mail went out.
    :raises ActionError: for an order that is not paid.
    """
    _paid(order)
    revoked = db.session.execute(  # type: ignore[attr-defined]
        update(OrderLink).where(OrderLink.order_id == order.id, OrderLink.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    gift = gift_of(order.id)
    if gift is not None:
        # A gift's links are the recipient's: the new one goes to them (once it was delivered).
        audit.record(operator, "order.replace_links", f"order:{order.id}",
                     {"revoked": revoked, "gift_to": gift.recipient_email}, ip)
        db.session.commit()
        return int(revoked), deliver(gift.id, again=True)
    token = mint_link(order)
    audit.record(operator, "order.replace_links", f"order:{order.id}", {"revoked": revoked}, ip)
    db.session.commit()
    return int(revoked), _mail_receipt(order, token)


def restore_access(order: Order, operator: Operator, ip: str | None) -> None:
    """Open a disputed order again (the operator knows the dispute was withdrawn, or decided to
    honour the order anyway); audited. Later events of that dispute leave it open
    (``dispute_status`` ``restored``). Stopped Dropbox deliveries stay stopped: the buyer
    connects again, as after a won dispute.

    :raises ActionError: for an order that is not disputed.
    """
    previous = order.dispute_status
    restored = db.session.execute(  # type: ignore[attr-defined]
        update(Order).where(Order.id == order.id, Order.status == OrderStatus.DISPUTED.value)
        .values(status=OrderStatus.PAID.value, dispute_status=DisputeStatus.RESTORED.value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if restored != 1:
        db.session.rollback()
        raise ActionError(f"order #{order.id} is {order.status}, not disputed: there is no access to restore")
    audit.record(operator, "order.restore_access", f"order:{order.id}", {"dispute_status": previous}, ip)
    db.session.commit()
    db.session.refresh(order)


def grant(pack: Pack, email: str, operator: Operator, ip: str | None) -> tuple[Order, bool]:
    """A free copy of ``pack`` for ``email``: a paid order of amount 0 with provider ``grant``,
    and its receipt.

    :returns: the order, and whether the receipt went out (the order stays either way).
    :raises shop.email_address.EmailError: for an address that is not one.
    """
    address = normalize_email(email)
    now = utcnow()
    order = Order(pack=pack, email=address, amount_cents=0, currency=pack.currency,
                  status=OrderStatus.PAID.value, payment_provider=GRANT_PROVIDER,
                  payment_ref=f"grant-{secrets.token_hex(12)}", created_at=now, paid_at=now)
    token = mint_link(order)
    db.session.add(order)
    db.session.flush()
    audit.record(operator, "order.grant", f"order:{order.id}", {"pack": pack.slug, "email": address}, ip)
    db.session.commit()
    return order, _mail_receipt(order, token)


@dataclass(frozen=True)
class RefundAnswer:
    """What the provider said to a refund asked from the console."""

    amount_cents: int
    currency: str
    refund_id: str | None
    status: str | None
    revoked_now: bool


def parse_refund_amount(text: str, currency: str = "USD") -> int | None:
    """The refund form's amount: None (all that is left) when blank, else in ``currency``'s minor unit.

    :raises ActionError: for something that is not a plain amount like 4.50.
    """
    if not text.strip():
        return None
    try:
        return parse_price(text, currency)
    except InvalidPackSetting as exc:
        raise ActionError(f"refund amount: {exc}") from None


def refund(order: Order, amount_cents: int | None, reason: str | None, operator: Operator,
           ip: str | None) -> RefundAnswer:
    """Refund ``amount_cents`` (all that is left when None) through the order's payment provider
    (:func:`shop.payments.refunds.refund_order`), audited with the provider's answer.

    For a Stripe order the money goes back through Stripe, and the order changes when Stripe's
    event arrives (a full refund revokes it then); an order no provider took money for is
    marked refunded at once.

    :raises ActionError: the provider's or the store's refusal (audited too; nothing changed).
    """
    order_id = order.id
    details: dict[str, object] = {"amount_cents": amount_cents, "reason": reason}
    try:
        request = refund_order(order_id, amount_cents=amount_cents, reason=reason or None)
    except RefundError as exc:
        db.session.rollback()
        audit.record(operator, "order.refund.refused", f"order:{order_id}", {**details, "error": str(exc)}, ip)
        db.session.commit()
        raise ActionError(str(exc)) from None
    answer = RefundAnswer(request.amount_cents, request.currency, request.refund_id, request.status,
                          request.revoked_now)
    audit.record(operator, "order.refund", f"order:{order_id}",
                 {**details, "refunded_cents": answer.amount_cents, "refund_id": answer.refund_id,
                  "provider_status": answer.status, "revoked_now": answer.revoked_now}, ip)
    db.session.commit()
    return answer


@dataclass(frozen=True)
class CsvColumn:
    """One column of the orders CSV: its header and what it shows of an order and its money."""

    header: str
    value: Callable[[Order, OrderMoney], object]


def _isotime(value: datetime | None) -> str:
    return value.isoformat() if value else ""


#: The orders CSV, left to right. Amounts are plain decimals in the order's currency, by
#: :mod:`shop.accounting` (``amount`` is the price of a pending order too; the others are 0 for it).
CSV_COLUMNS: tuple[CsvColumn, ...] = (
    CsvColumn("order", lambda o, m: o.id),
    CsvColumn("email", lambda o, m: o.email),
    CsvColumn("amount", lambda o, m: format_plain(o.amount_cents, o.currency)),
    CsvColumn("currency", lambda o, m: o.currency),
    CsvColumn("status", lambda o, m: o.status),
    CsvColumn("refunded", lambda o, m: format_plain(m.refunded_cents, o.currency)),
    CsvColumn("disputed", lambda o, m: format_plain(m.disputed_cents, o.currency)),
    CsvColumn("dispute", lambda o, m: m.dispute or ""),
    CsvColumn("net", lambda o, m: format_plain(m.net_cents, o.currency)),
    CsvColumn("provider", lambda o, m: o.payment_provider),
    CsvColumn("payment_ref", lambda o, m: o.payment_ref),
    CsvColumn("stripe_payment_intent", lambda o, m: o.payment_intent_id),
    CsvColumn("stripe_checkout_session", lambda o, m: o.checkout_session_id),
    CsvColumn("created_at", lambda o, m: _isotime(o.created_at)),
    CsvColumn("paid_at", lambda o, m: _isotime(o.paid_at)),
    CsvColumn("split_artists", lambda o, m: o.split_artists),
    CsvColumn("split_charity", lambda o, m: o.split_charity),
    CsvColumn("split_store", lambda o, m: o.split_store),
    CsvColumn("split_per_artist", lambda o, m: _per_artist(o)),
    CsvColumn("bonus_unlocked", lambda o, m: "yes" if o.bonus_unlocked else "no"),
)


def _per_artist(order: Order) -> str:
    split = order_split(order)
    return "; ".join(f"{artist.name} {percent}" for artist, percent in split.per_artist) if split else ""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote.

    Amounts are written by :func:`~shop.currencies.format_plain` and never negative, so no
    number is quoted by this.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def pack_orders_csv(pack: Pack) -> Iterator[str]:
    """The pack's orders (every status, oldest first) as CSV lines, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[object]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(c) for c in cells])
        return buffer.getvalue()

    yield line(column.header for column in CSV_COLUMNS)
    orders = db.session.scalars(select(Order).where(Order.pack_id == pack.id).order_by(Order.id))
    for o in orders:
        figures = order_money(o)
        yield line(column.value(o, figures) for column in CSV_COLUMNS)
