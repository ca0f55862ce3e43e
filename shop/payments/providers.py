"""The payment provider interface.

A checkout is a redirect out to the provider and a confirmation back:

* :meth:`PaymentProvider.start_checkout` returns the URL the buyer is sent to;
* the provider later confirms (the test provider's own confirm form; for Stripe Checkout,
  a signed ``checkout.session.completed`` webhook carrying ``client_reference_id``), and
  the confirming view calls :func:`shop.orders.service.mark_paid`, which is idempotent.

A Stripe provider would create a Checkout Session in ``start_checkout`` (amount, currency,
``client_reference_id=order.payment_ref``, ``success_url=return_url``) and add a webhook
view that verifies the signature before looking the order up by ``payment_ref``.
"""

from __future__ import annotations

import abc
import secrets

from flask import current_app, url_for

from shop.models import Order


class PaymentProvider(abc.ABC):
    name: str

    def new_reference(self, prefix: str = "") -> str:
        """A unique, unguessable id for the order at this provider, after ``prefix`` and a dot.

        The store prefixes the tag of the buyer's checkout session
        (:func:`shop.payments.checkout_session.checkout_tag`).
        """
        token = secrets.token_urlsafe(18)
        return f"{prefix}.{token}" if prefix else token

    @abc.abstractmethod
    def start_checkout(self, order: Order) -> str:
        """The URL where the buyer pays for ``order``."""


class FakeCheckoutProvider(PaymentProvider):
    """A clearly labelled fake checkout: one POST marks the order paid. Never in production.

    Selected with ``SHOP_PAYMENT_PROVIDER=test``; its views are ``payments.fake_checkout``
    and ``payments.fake_confirm``.
    """

    name = "test"

    def start_checkout(self, order: Order) -> str:
        return url_for("payments.fake_checkout", ref=order.payment_ref)


PROVIDERS: dict[str, type[PaymentProvider]] = {"test": FakeCheckoutProvider}


class PaymentsUnavailable(RuntimeError):
    pass


def get_provider() -> PaymentProvider:
    """The configured provider.

    :raises PaymentsUnavailable: when ``PAYMENT_PROVIDER`` is unset or unknown.
    """
    name = current_app.config.get("PAYMENT_PROVIDER")
    if name not in PROVIDERS:
        raise PaymentsUnavailable(f"no payment provider configured ({name!r})")
    return PROVIDERS[name]()
