"""The payment provider interface.

A checkout is a redirect out to the provider and a confirmation back:

* :meth:`PaymentProvider.start_checkout` returns the URL the buyer is sent to;
* the provider later confirms (the test provider's own confirm form; for Stripe Checkout,
  the signed ``checkout.session.completed`` webhook and the buyer's return to the success
  URL, see :mod:`shop.payments.stripe_events`), and the confirming code calls
  :func:`shop.orders.service.mark_paid`, which is idempotent.

Providers: ``stripe`` (:class:`shop.payments.stripe_provider.StripeProvider`) and ``test``
(:class:`FakeCheckoutProvider`, for development and fast unit tests; never in production).
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


class AmountRefused(ValueError):
    """The provider cannot charge this amount in this currency; ``str(exc)`` says why."""


class PaymentsUnavailable(RuntimeError):
    """No provider is configured, or the provider cannot be reached just now."""


def provider_classes() -> dict[str, type[PaymentProvider]]:
    from shop.payments.stripe_provider import StripeProvider

    return {"test": FakeCheckoutProvider, "stripe": StripeProvider}


def get_provider() -> PaymentProvider:
    """The configured provider.

    :raises PaymentsUnavailable: when ``PAYMENT_PROVIDER`` is unset or unknown.
    """
    name = current_app.config.get("PAYMENT_PROVIDER")
    classes = provider_classes()
    if name not in classes:
        raise PaymentsUnavailable(f"no payment provider configured ({name!r})")
    return classes[name]()
