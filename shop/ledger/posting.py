"""Posting an order's money to the ledger: the sale, refunds, a dispute's withdrawal and
reinstatement, each exactly once.

The rules (``docs/money.md`` says the same for people):

* **What is split.** What the buyer paid, less Stripe's processing fee (from the charge's
  balance transaction) and less the tax Stripe collected with the payment (Checkout's
  ``total_details.amount_tax``): both come off *before* the split. The rest is shared between
  the artists, the charity and the store by the order's shares: the split stored on the order
  (the pay box's), or the pack's default shares at posting time for an order that stored none.
  The artists' part is divided by the per-artist percents stored on the order (mapped to artist
  ids through the album ids stored with them) or, without those, by the ``share_weight`` of
  the pack's albums. A charity with 0 % (or none) gets no entry.
* **The sale** (``sale:<order id>``): each party's gross share (``share``, a largest-remainder
  split of the whole amount), its part of the tax (``tax``, negative) and of the fee (``fee``,
  negative), so that share + tax + fee is its net share, itself a largest-remainder split of
  amount − tax − fee. Party ``tax`` gets +tax and party ``stripe`` +fee. The entries sum to the
  amount exactly.
* **Rounding.** Largest remainder: every part is its exact proportional value rounded down or
  up (never more than a minor unit away), the units left over go to the largest remainders,
  ties to the party listed first (artists in album order, then the charity, then the store).
  Where it can, a part is also kept from moving the wrong way (a fee part never positive, a
  refund part never positive), which largest remainder alone does not promise.
* **Refunds and disputes** take money back in the proportions of the sale: each party's part
  of what went back is a largest-remainder split, by their gross share less their part of the
  tax (the tax party by the tax), of *everything* taken back so far, less what they gave
  before. Stripe does not return its processing fee on a refund, so the parties carry it:
  after a full refund, each party's entries for the order sum to minus its part of the fee,
  the tax party's to 0 and Stripe's to +fee; the order's entries sum to 0.
* **Disputes.** Money withdrawn when a chargeback opens (inquiries take none) is posted once
  (``dispute:<dispute id>:withdrawn``, kind ``dispute``) with Stripe's dispute fee when the
  balance transaction has one (party ``stripe`` +fee, the parties − in proportion to their net
  shares, kind ``dispute_fee``). A lost dispute adds nothing more; a won one restores the
  money (``dispute:<dispute id>:reinstated``, kind ``dispute_reinstated``, and a returned
  dispute fee, if any).
* **Once.** A posting's ``key`` is unique: a replayed webhook or a retried job finds it and
  posts nothing; two at once on PostgreSQL meet the unique index, and the loser's savepoint is
  rolled back (its caller's transaction goes on). Postings are never changed: a refund that
  fails after it was posted is taken back by a new posting (``refund:<id>:failed``).
* Orders that carry no money (zero amounts, orders from download codes) post nothing.

Every function here adds to the caller's transaction and flushes; the caller commits, with
the order's own change, so the ledger and the order move together.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from shop.extensions import db
from shop.ledger.models import EntryKind, LedgerEntry, LedgerPosting, Party, PostingKind
from shop.models import CODE_PROVIDER, Album, Order, utcnow

log = logging.getLogger(__name__)

#: Entry kinds that move an order's money back to the buyer (or to it again, once a dispute is won).
REVERSAL_KINDS = (EntryKind.REFUND.value, EntryKind.DISPUTE.value, EntryKind.DISPUTE_REINSTATED.value)


class PostingError(RuntimeError):
    """The movement cannot be posted as asked (no sale to reverse, an amount that does not fit)."""


@dataclass(frozen=True, order=True)
class Payee:
    """Who an entry is for: a party, and the artist when the party is ``artist``."""

    party: str
    artist_id: int | None = None


STORE = Payee(Party.STORE.value)
CHARITY = Payee(Party.CHARITY.value)
STRIPE = Payee(Party.STRIPE.value)
TAX = Payee(Party.TAX.value)


def sale_key(order_id: int) -> str:
    return f"sale:{order_id}"


def largest_remainder(total: int, weights: Sequence[int], low: Sequence[int] | None = None,
                      high: Sequence[int] | None = None) -> list[int]:
    """``total`` (≥ 0) split in proportion to ``weights`` (≥ 0, not all 0 unless ``total`` is 0).

    Each part is its exact value ``total * w / sum(weights)`` rounded down or up; the units
    rounding leaves go to the largest remainders, ties to the earlier weight. ``low`` and
    ``high`` are bounds a part is kept within when rounding allows it (rounding up a part that
    must not go under ``low`` first, never rounding up a part that would pass ``high`` while
    another may be rounded up instead); the parts always sum to ``total`` exactly.
    """
    whole = sum(weights)
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("largest_remainder takes a total and weights of 0 or more")
    if total == 0:
        return [0] * len(weights)
    if whole <= 0:
        raise ValueError(f"cannot split {total} with no weight")
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(parts)
    rounded_up = [i for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i)) if remainders[i]]

    def must(i: int) -> bool:
        return low is not None and low[i] > parts[i]

    def may(i: int) -> bool:
        return high is None or parts[i] + 1 <= high[i]

    ranked = ([i for i in rounded_up if must(i)] + [i for i in rounded_up if not must(i) and may(i)]
              + [i for i in rounded_up if not must(i) and not may(i)])
    for i in ranked[:left]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class Shares:
    """Who shares an order's money, in the order ties are broken, with integer weights."""

    payees: tuple[Payee, ...]
    weights: tuple[int, ...]


def order_shares(order: Order) -> Shares:
    """The order's shares: its stored split, else the pack's default split now; the artists'
    part by the stored per-artist percents, else by the pack's album weights."""
    pack = order.pack
    if order.split_artists is not None and order.split_charity is not None and order.split_store is not None:
        artists, charity, store = order.split_artists, order.split_charity, order.split_store
    else:
        artists, charity, store = pack.split_artists, pack.split_charity, pack.split_store
    per_artist = _stored_per_artist(order) or _weighted_per_artist(order.pack_id)
    scale = sum(per_artist.values())
    if artists and not scale:
        raise PostingError(f"order {order.id}: the artists' part has no artist to go to")
    payees: list[Payee] = []
    weights: list[int] = []
    for artist_id, weight in per_artist.items():
        if artists * weight:
            payees.append(Payee(Party.ARTIST.value, artist_id))
            weights.append(artists * weight)
    scale = scale or 1
    if charity and pack.charity_name:
        payees.append(CHARITY)
        weights.append(charity * scale)
    elif charity:
        # A charity share with no charity named (the constraints forbid it on packs): the store keeps it.
        store += charity
    if store:
        payees.append(STORE)
        weights.append(store * scale)
    return Shares(tuple(payees), tuple(weights))


def _stored_per_artist(order: Order) -> dict[int, int]:
    """The order's per-artist percents by artist id (albums mapped to their artist; an album
    gone since is found by the artist's name on the pack); empty when it stored none."""
    if not order.artist_split:
        return {}
    items = json.loads(order.artist_split)
    if not items:
        return {}
    albums = {a.id: a for a in db.session.scalars(select(Album).where(Album.pack_id == order.pack_id))}
    by_name: dict[str, int] = {}
    for album in sorted(albums.values(), key=lambda a: (a.position, a.id)):
        by_name.setdefault(album.artist, album.artist_id)
    found: dict[int, int] = {}
    for item in items:
        stored = albums.get(int(item["album_id"]))
        artist_id = stored.artist_id if stored is not None else by_name.get(str(item["artist"]))
        if artist_id is None:
            raise PostingError(f"order {order.id}: no artist for {item!r} on its pack")
        found[artist_id] = found.get(artist_id, 0) + int(item["percent"])
    return found


def _weighted_per_artist(pack_id: int) -> dict[int, int]:
    """The pack's artists by id with the sum of their albums' weights, in album order (every
    artist equally when all weights are 0)."""
    found: dict[int, int] = {}
    for album in db.session.scalars(select(Album).where(Album.pack_id == pack_id)
                                    .order_by(Album.position, Album.id)):
        found[album.artist_id] = found.get(album.artist_id, 0) + album.share_weight
    if found and not sum(found.values()):
        return dict.fromkeys(found, 1)
    return found


Entry = tuple[Payee, EntryKind, int]


def sale_entries(amount: int, fee: int, tax: int, shares: Shares) -> list[Entry]:
    """The sale's entries: see the module docstring. ``fee + tax`` must not exceed ``amount``."""
    if min(amount, fee, tax) < 0 or fee + tax > amount:
        raise PostingError(f"a fee of {fee} and tax of {tax} do not fit in {amount}")
    weights = shares.weights
    gross = largest_remainder(amount, weights)
    after_tax = largest_remainder(amount - tax, weights, high=gross)
    net = largest_remainder(amount - tax - fee, weights, high=after_tax)
    entries: list[Entry] = []
    for n, payee in enumerate(shares.payees):
        entries += [(payee, EntryKind.SHARE, gross[n]), (payee, EntryKind.TAX, after_tax[n] - gross[n]),
                    (payee, EntryKind.FEE, net[n] - after_tax[n])]
    entries += [(TAX, EntryKind.TAX, tax), (STRIPE, EntryKind.FEE, fee)]
    return [e for e in entries if e[2]]


def _insert(key: str, kind: PostingKind, order: Order, amount: int, at: datetime,
            entries: Sequence[Entry]) -> LedgerPosting | None:
    """Add the posting in a savepoint; ``None`` when its key is posted already (by anyone)."""
    posting = LedgerPosting(key=key, kind=kind.value, order_id=order.id, currency=order.currency,
                            amount_cents=amount, at=at)
    try:
        with db.session.begin_nested():
            db.session.add(posting)
            db.session.flush()
            db.session.add_all([
                LedgerEntry(posting_id=posting.id, order_id=order.id, party=payee.party, artist_id=payee.artist_id,
                            kind=entry_kind.value, currency=order.currency, amount_cents=cents, at=at)
                for payee, entry_kind, cents in entries])
            db.session.flush()
    except IntegrityError:
        if _posted(key):
            return None
        raise
    return posting


def _lock(order_id: int) -> None:
    """Hold the order's row until the transaction ends, so that two postings taking money back
    from one order take turns (each reads what the other posted). SQLite: a write takes the
    database's lock instead."""
    if db.session.connection().dialect.name == "sqlite":
        db.session.execute(update(Order).where(Order.id == order_id).values(id=Order.id)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(select(Order.id).where(Order.id == order_id).with_for_update())


def _posted(key: str) -> bool:
    return db.session.scalar(select(LedgerPosting.id).where(LedgerPosting.key == key)) is not None


def carries_money(order: Order) -> bool:
    return order.payment_provider != CODE_PROVIDER and order.amount_cents > 0


def post_sale(order: Order, fee_cents: int = 0, tax_cents: int = 0, at: datetime | None = None
              ) -> LedgerPosting | None:
    """Post the paid ``order`` once (``sale:<id>``); ``None`` when posted already or it carries
    no money. A fee and tax that do not fit in the amount are refused (:class:`PostingError`)."""
    if not carries_money(order) or _posted(sale_key(order.id)):
        return None
    amount = order.amount_cents
    if fee_cents < 0 or tax_cents < 0 or fee_cents + tax_cents > amount:
        tax = min(max(tax_cents, 0), amount)
        fee = min(max(fee_cents, 0), amount - tax)
        log.error("ledger: order %s of %s has a fee of %s and tax of %s; posting %s and %s", order.id, amount,
                  fee_cents, tax_cents, fee, tax)
        fee_cents, tax_cents = fee, tax
    entries = sale_entries(amount, fee_cents, tax_cents, order_shares(order))
    return _insert(sale_key(order.id), PostingKind.SALE, order, order.amount_cents,
                   at or order.paid_at or utcnow(), entries)


@dataclass(frozen=True)
class _Reversible:
    """What the sale left to take back: per payee its weight (gross − tax part; the tax party:
    the tax) and what has been taken back so far; and the parties' net shares."""

    payees: list[Payee]
    weights: list[int]
    taken: list[int]
    net: dict[Payee, int]


def _reversible(order: Order) -> _Reversible:
    rows = db.session.execute(
        select(LedgerEntry.party, LedgerEntry.artist_id, LedgerEntry.kind, LedgerEntry.amount_cents,
               LedgerPosting.kind)
        .join(LedgerPosting, LedgerPosting.id == LedgerEntry.posting_id)
        .where(LedgerEntry.order_id == order.id).order_by(LedgerEntry.id)
    ).tuples().all()
    if not any(posting_kind == PostingKind.SALE.value for *_, posting_kind in rows):
        raise PostingError(f"order {order.id} has no sale posting to take money back from")
    weights: dict[Payee, int] = {}
    taken: dict[Payee, int] = {}
    net: dict[Payee, int] = {}
    for party, artist_id, kind, cents, posting_kind in rows:
        payee = Payee(party, artist_id)
        if payee == STRIPE:
            continue
        if posting_kind == PostingKind.SALE.value:
            if kind in (EntryKind.SHARE.value, EntryKind.TAX.value):
                weights[payee] = weights.get(payee, 0) + cents
            if payee != TAX:
                net[payee] = net.get(payee, 0) + cents
        elif kind in REVERSAL_KINDS:
            taken[payee] = taken.get(payee, 0) - cents
    payees = list(weights)
    return _Reversible(payees, [weights[p] for p in payees], [taken.get(p, 0) for p in payees], net)


def _take_back(order: Order, key: str, posting_kind: PostingKind, entry_kind: EntryKind, cents: int,
               at: datetime | None, dispute_fee: int = 0) -> LedgerPosting | None:
    """Post ``cents`` going back to the buyer (negative: coming back to the parties) once."""
    if not carries_money(order) or _posted(key):
        return None
    _lock(order.id)
    if not _posted(sale_key(order.id)):
        # Paid before the ledger existed (or by a path that did not post it): posted now,
        # without a fee, so that what comes back has something to come back from.
        log.warning("ledger: order %s had no sale posting; posting it (no fee known) before %s", order.id, key)
        post_sale(order)
    state = _reversible(order)
    before = sum(state.taken)
    after = before + cents
    if not 0 <= after <= order.amount_cents:
        clamped = min(max(after, 0), order.amount_cents)
        log.error("ledger: %s for order %s moves %s of %s (%s taken back before): posting %s instead",
                  key, order.id, cents, order.amount_cents, before, clamped - before)
        after = clamped
    if cents >= 0:
        parts = largest_remainder(after, state.weights, low=state.taken, high=state.weights)
    else:
        parts = largest_remainder(after, state.weights, low=[0] * len(state.weights), high=state.taken)
    entries: list[Entry] = [(payee, entry_kind, -(parts[n] - state.taken[n]))
                            for n, payee in enumerate(state.payees)]
    if dispute_fee:
        # In proportion to the parties' net shares (to their gross ones when the fee left them
        # nothing; to the store when there is no one else).
        sharing = [p for p in state.payees if state.net.get(p, 0) > 0]
        by = [state.net[p] for p in sharing]
        if not sharing:
            sharing = [p for p, w in zip(state.payees, state.weights, strict=True) if p != TAX and w > 0]
            by = [w for p, w in zip(state.payees, state.weights, strict=True) if p != TAX and w > 0]
        if not sharing:
            sharing, by = [STORE], [1]
        split = largest_remainder(abs(dispute_fee), by)
        sign = 1 if dispute_fee > 0 else -1
        entries += [(p, EntryKind.DISPUTE_FEE, -sign * part) for p, part in zip(sharing, split, strict=True)]
        entries.append((STRIPE, EntryKind.DISPUTE_FEE, dispute_fee))
    return _insert(key, posting_kind, order, -(after - before), at or utcnow(), [e for e in entries if e[2]])


def post_refund(order: Order, key: str, amount_cents: int, at: datetime | None = None) -> LedgerPosting | None:
    """Post a refund of ``amount_cents`` once under ``key`` (``refund:<Stripe refund id>``).

    Stripe does not return its processing fee when a payment is refunded: the parties carry
    it, in proportion (after a full refund each is left with minus its part of the fee).
    """
    if amount_cents <= 0:
        return None
    return _take_back(order, key, PostingKind.REFUND, EntryKind.REFUND, amount_cents, at)


def post_refund_failed(order: Order, refund_key: str, at: datetime | None = None) -> LedgerPosting | None:
    """A refund posted under ``refund_key`` failed at the provider: the money is the parties'
    again (``<refund_key>:failed``, in the same proportions). Nothing when it was never posted."""
    key = f"{refund_key}:failed"
    if _posted(key):
        return None
    refunded = db.session.scalar(select(LedgerPosting.amount_cents).where(LedgerPosting.key == refund_key))
    if refunded is None:
        return None
    return _take_back(order, key, PostingKind.REFUND, EntryKind.REFUND, refunded, at)


def post_dispute_withdrawn(order: Order, dispute_id: str, amount_cents: int, fee_cents: int = 0,
                           at: datetime | None = None) -> LedgerPosting | None:
    """Post the money a chargeback took (``dispute:<id>:withdrawn``), and Stripe's dispute fee."""
    return _take_back(order, f"dispute:{dispute_id}:withdrawn", PostingKind.DISPUTE_WITHDRAWN, EntryKind.DISPUTE,
                      amount_cents, at, dispute_fee=fee_cents)


def post_dispute_reinstated(order: Order, dispute_id: str, amount_cents: int, fee_returned_cents: int = 0,
                            at: datetime | None = None) -> LedgerPosting | None:
    """Post the money a won dispute gave back (``dispute:<id>:reinstated``), and a returned dispute fee."""
    return _take_back(order, f"dispute:{dispute_id}:reinstated", PostingKind.DISPUTE_REINSTATED,
                      EntryKind.DISPUTE_REINSTATED, -amount_cents, at, dispute_fee=-fee_returned_cents)


def order_entries_total(order_id: int) -> int:
    """The sum of an order's entries: what its buyer has paid net, once everything is posted."""
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
                              .where(LedgerEntry.order_id == order_id))
    return int(total or 0)
