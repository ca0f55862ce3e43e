"""Which order a Stripe id names, for ids the store does not keep on the order.

The store keeps an order's Checkout Session (``cs_…``) and PaymentIntent (``pi_…``) ids; a
charge (``ch_…``, or ``py_…`` for some payment methods) is what Stripe's dashboard, its
dispute e-mails and bank statements show, so an operator searching for one is answered by
asking Stripe which PaymentIntent the charge belongs to (one read, nothing written).
"""

from __future__ import annotations

import re

import stripe
from sqlalchemy import select

from shop.extensions import db
from shop.models import Order
from shop.payments.stripe_api import StripeNotConfigured, object_id, stripe_client

#: A charge id as Stripe writes it (``ch_3Nx…``); anything else is never sent to Stripe.
CHARGE_ID = re.compile(r"(?:ch|py)_[A-Za-z0-9_]{6,200}")


class LookupUnavailable(RuntimeError):
    """Stripe could not be asked (not configured, unreachable, refused); ``str(exc)`` says why."""


def order_id_for_charge(charge_id: str) -> int | None:
    """The id of the order paid by charge ``charge_id``, or ``None`` when Stripe knows no such
    charge or it paid no order of this store.

    :raises LookupUnavailable: when Stripe cannot be asked.
    """
    if not CHARGE_ID.fullmatch(charge_id):
        return None
    try:
        charge = stripe_client().v1.charges.retrieve(charge_id)
    except StripeNotConfigured as exc:
        raise LookupUnavailable("Stripe is not configured (SHOP_STRIPE_SECRET_KEY)") from exc
    except stripe.InvalidRequestError:
        return None  # no such charge (Stripe answers 404)
    except stripe.StripeError as exc:
        raise LookupUnavailable(f"Stripe did not answer ({type(exc).__name__})") from exc
    payment_intent = object_id(charge.payment_intent)
    if payment_intent is None:
        return None
    return db.session.scalar(select(Order.id).where(Order.payment_intent_id == payment_intent))
