"""Paying artists: Stripe Connect onboarding from the statement page, the payout run
(``flask payouts run``: one Stripe transfer per artist owed enough, safe to repeat or kill), and
payouts made by hand, recorded from the console.

What each artist is owed is :func:`shop.ledger.statements.balances`; a payout is a
:class:`~shop.ledger.models.Payout` row and, once sent, a ``payout:<id>`` ledger posting. Stripe
is reached through :mod:`shop.payments.stripe_api` (the floor below); what Stripe says about an
account is written by :mod:`shop.payments.connect_accounts`, which ``account.updated`` webhooks
reach too.
"""

from flask import Blueprint

bp = Blueprint("payouts", __name__)

from shop.payouts import views  # noqa: E402,F401
