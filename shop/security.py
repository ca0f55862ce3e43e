"""Security headers on every response."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app

DROPBOX_WEB_ORIGIN = "https://www.dropbox.com"


def content_security_policy(dropbox_origin: str) -> str:
    """No inline script or style anywhere: every script and stylesheet is a file under /static.

    ``form-action`` also names Dropbox's web origin: "Add to Dropbox" before connecting is
    a form POST that redirects to Dropbox's consent page, and browsers apply
    ``form-action`` to every redirect of a form submission.
    """
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        f"form-action 'self' {dropbox_origin}",
        "frame-ancestors 'none'",
    ])


def dropbox_web_origin() -> str:
    """Where the consent page lives: real Dropbox, or the emulator named by ``DROPBOX_API_URL``."""
    emulator = current_app.config.get("DROPBOX_API_URL")
    if emulator:
        parts = urlsplit(emulator)
        return f"{parts.scheme}://{parts.netloc}"
    return DROPBOX_WEB_ORIGIN


def register(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", content_security_policy(dropbox_web_origin()))
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
