"""Stripe's settings: production refuses to start without its keys; the CSP lets the buy
form redirect to Stripe's payment page (or the emulator's)."""

from __future__ import annotations

import pytest

from shop import create_app
from shop.config import ConfigError


def test_production_with_stripe_refuses_to_start_without_its_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOP_ENV", "production")
    monkeypatch.setenv("SHOP_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("SHOP_BASE_URL", "https://music.example")
    monkeypatch.setenv("SHOP_PAYMENT_PROVIDER", "stripe")
    database = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"}
    with pytest.raises(ConfigError, match="SHOP_STRIPE_SECRET_KEY, SHOP_STRIPE_WEBHOOK_SECRET"):
        create_app(database)
    monkeypatch.setenv("SHOP_STRIPE_SECRET_KEY", "sk_live_x")
    with pytest.raises(ConfigError, match="SHOP_STRIPE_WEBHOOK_SECRET"):
        create_app(database)
    monkeypatch.setenv("SHOP_STRIPE_WEBHOOK_SECRET", "whsec_x")
    app = create_app(database)
    assert app.config["PAYMENT_PROVIDER"] == "stripe" and app.config["STRIPE_API_URL"] is None


def form_action(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return next(part for part in policy.split("; ") if part.startswith("form-action"))


def test_form_action_names_the_stripe_checkout_origin(app, client):
    app.config.update(PAYMENT_PROVIDER="stripe", STRIPE_API_URL=None)
    assert "https://checkout.stripe.com" in form_action(client.get("/"))
    app.config.update(STRIPE_API_URL="http://127.0.0.1:12111/")
    assert form_action(client.get("/")).endswith(" http://127.0.0.1:12111")
    app.config.update(PAYMENT_PROVIDER="test")
    assert "stripe" not in form_action(client.get("/")) and "12111" not in form_action(client.get("/"))
