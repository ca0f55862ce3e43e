"""``/statements/<token>``: an artist's statements, sales and how they get paid."""

from __future__ import annotations

from flask import Response, abort, current_app, render_template, request

from shop import ratelimit
from shop.extensions import db
from shop.ledger.statements import balances
from shop.statements import bp, figures, links

#: Where the artist's "Get paid with Stripe" button posts (the payouts package's endpoint).


@bp.get("/statements/<token>")
def show(token: str) -> Response:
    """The artist's page. A malformed, unknown or revoked token is the same 404; a client
    that keeps missing is answered 429 for the rest of the hour."""
    artist = links.artist_for(token)
    if artist is None:
        allowed = ratelimit.allow(f"statements:client:{request.remote_addr}",
                                  current_app.config["STATEMENT_MISSES_PER_CLIENT"])
        db.session.commit()
        if not allowed:
            abort(429, "Too many wrong statement links from here. Please wait an hour and try again.")
        abort(404)
    history = figures.statement_history(artist.id)
    owed = sorted((currency, cents) for (_, currency), cents in balances(artist.id).items())
    body = render_template(
        "statements/show.html", artist=artist, token=token, history=history, owed=owed,
        sales=figures.album_sales(artist),
    )
    response = current_app.make_response(body)
    # The URL is the secret: out of shared caches, search engines, and other sites' logs.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
