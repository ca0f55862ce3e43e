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
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from shop.admin import audit
from shop.admin.models import Operator
from shop.catalog.pack_settings import InvalidPackSetting, parse_price
from shop.downloads.models import DownloadCount
from shop.dropbox.models import Delivery
from shop.email_address import normalize_email
from shop.extensions import db
from shop.mail import MailError
from shop.models import Order, OrderLink, OrderStatus, Pack, utcnow
from shop.order_links import mint_link
from shop.orders.receipts import send_receipt
from shop.payments.refunds import REASONS, RefundError, refund_order
from shop.splits import order_split

SEARCH_LIMIT = 100
ORDER_NUMBER = re.compile(r"#?\s*(\d{1,10})")
GRANT_PROVIDER = "grant"
REFUND_REASONS = REASONS

log = logging.getLogger(__name__)


class ActionError(ValueError):
    """An action that cannot be done on this order; ``str(exc)`` says why, for the operator."""


def search(query: str, limit: int = SEARCH_LIMIT) -> list[Order]:
    """Orders whose number is ``query`` (``12`` or ``#12``; or whose payment reference is exactly
    that), else orders whose e-mail or payment reference contains it (case-insensitive).
    Newest first."""
    text = query.strip()
    if not text:
        return []
    number = ORDER_NUMBER.fullmatch(text)
    if number:
        # A number is an order number (or a whole payment reference), not a fragment of every
        # address and reference that happens to contain those digits.
        conditions = [Order.payment_ref == text]
        if int(number.group(1)) <= 2_147_483_647:
            conditions.append(Order.id == int(number.group(1)))
    else:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions = [func.lower(Order.email).like(pattern, escape="\\"),
                      func.lower(Order.payment_ref).like(pattern, escape="\\")]
    return list(db.session.scalars(
        select(Order).options(selectinload(Order.pack)).where(or_(*conditions))
        .order_by(Order.id.desc()).limit(limit)
    ))


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    links: list[OrderLink]
    downloads: list[DownloadCount]
    deliveries: list[Delivery]


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
    return OrderDetail(order, list(links), list(downloads), list(deliveries))


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

    :raises ActionError: for an order that is not paid.
    """
    _paid(order)
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
    token = mint_link(order)
    audit.record(operator, "order.replace_links", f"order:{order.id}", {"revoked": revoked}, ip)
    db.session.commit()
    return int(revoked), _mail_receipt(order, token)


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


def parse_refund_amount(text: str) -> int | None:
    """The refund form's amount: None (all that is left) when blank, else cents.

    :raises ActionError: for something that is not a plain amount like 4.50.
    """
    if not text.strip():
        return None
    try:
        return parse_price(text)
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


CSV_COLUMNS = ("order", "email", "amount", "currency", "status", "provider", "payment_ref", "created_at", "paid_at",
               "split_artists", "split_charity", "split_store", "split_per_artist", "bonus_unlocked")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def pack_orders_csv(pack: Pack) -> Iterator[str]:
    """The pack's orders (every status, oldest first) as CSV lines, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: tuple[object, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(c) for c in cells])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    orders = db.session.scalars(select(Order).where(Order.pack_id == pack.id).order_by(Order.id))
    for o in orders:
        split = order_split(o)
        per_artist = "; ".join(f"{artist.name} {percent}" for artist, percent in split.per_artist) if split else ""
        yield line((o.id, o.email, f"{o.amount_cents / 100:.2f}", o.currency, o.status, o.payment_provider,
                    o.payment_ref, o.created_at.isoformat(), o.paid_at.isoformat() if o.paid_at else "",
                    o.split_artists, o.split_charity, o.split_store, per_artist, "yes" if o.bonus_unlocked else "no"))
