"""Security headers on every response."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app

DROPBOX_WEB_ORIGIN = "https://www.dropbox.com"
STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
# Where an artist's "Get paid with Stripe" form ends up: Stripe's hosted Connect onboarding.
STRIPE_CONNECT_ORIGIN = "https://connect.stripe.com"


def content_security_policy(dropbox_origin: str, *stripe_origins: str | None) -> str:
    """No inline script or style anywhere: every script and stylesheet is a file under /static.

    ``form-action`` also names Dropbox's web origin and Stripe Checkout's: "Add to Dropbox"
    before connecting is a form POST that redirects to Dropbox's consent page, "Buy the
    pack" one that redirects to Stripe's payment page, an artist's "Get paid with Stripe" one
    that redirects to Stripe's onboarding, and browsers apply ``form-action`` to every
    redirect of a form submission.
    """
    form_action = " ".join(dict.fromkeys(o for o in ("'self'", dropbox_origin, *stripe_origins) if o))
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        f"form-action {form_action}",
        "frame-ancestors 'none'",
    ])


def dropbox_web_origin() -> str:
    """Where the consent page lives: real Dropbox, or the emulator named by ``DROPBOX_API_URL``."""
    emulator = current_app.config.get("DROPBOX_API_URL")
    if emulator:
        parts = urlsplit(emulator)
        return f"{parts.scheme}://{parts.netloc}"
    return DROPBOX_WEB_ORIGIN


def stripe_checkout_origin() -> str | None:
    """Where Stripe's payment page lives (the emulator named by ``STRIPE_API_URL`` serves its
    own), or ``None`` when the store does not use Stripe."""
    config = current_app.config
    if config.get("PAYMENT_PROVIDER") != "stripe":
        return None
    emulator = config.get("STRIPE_API_URL")
    if emulator:
        parts = urlsplit(emulator)
        return f"{parts.scheme}://{parts.netloc}"
    return STRIPE_CHECKOUT_ORIGIN


def stripe_connect_origin() -> str | None:
    """Where Stripe's Connect onboarding lives (the emulator serves its own, at the origin of
    :func:`stripe_checkout_origin`), or ``None`` when the store does not use Stripe."""
    origin = stripe_checkout_origin()
    return STRIPE_CONNECT_ORIGIN if origin == STRIPE_CHECKOUT_ORIGIN else origin


def register(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", content_security_policy(
            dropbox_web_origin(), stripe_checkout_origin(), stripe_connect_origin()))
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        # same-origin keeps the Referer on our own POSTs (flask-wtf checks it over HTTPS)
        # and sends nothing, not even secret order links, to other sites.
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["ENV"] == "production":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
