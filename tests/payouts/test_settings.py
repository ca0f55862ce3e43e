"""The "Get paid with Stripe" form redirects to Stripe's onboarding: the CSP allows it; the
Connect webhook URL exists only with its secret."""

from __future__ import annotations

import pytest

from tests.payments.test_stripe_settings import form_action


@pytest.fixture
def app_overrides() -> dict:
    return {}


def test_form_action_names_stripes_onboarding_origin(app, client):
    app.config.update(PAYMENT_PROVIDER="stripe", STRIPE_API_URL=None)
    allowed = form_action(client.get("/")).split()
    assert "https://connect.stripe.com" in allowed and "https://checkout.stripe.com" in allowed
    app.config.update(STRIPE_API_URL="http://127.0.0.1:12111/")   # the emulator serves both pages
    allowed = form_action(client.get("/")).split()
    assert allowed.count("http://127.0.0.1:12111") == 1 and not any("stripe.com" in o for o in allowed)
    app.config.update(PAYMENT_PROVIDER="test")
    assert "stripe" not in form_action(client.get("/"))


def test_the_connect_webhook_is_a_404_without_its_secret(app, client):
    app.config.update(STRIPE_CONNECT_WEBHOOK_SECRET=None)
    assert client.post("/payments/stripe/connect-webhook", data=b"{}").status_code == 404
    app.config.update(STRIPE_CONNECT_WEBHOOK_SECRET="whsec_x")
    assert client.post("/payments/stripe/connect-webhook", data=b"{}").status_code == 400  # no signature
