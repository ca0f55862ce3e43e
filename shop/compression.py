"""Text responses compressed for the browsers that accept it (Brotli, else gzip).

gunicorn compresses nothing, so without this ``make run`` and a deployment without a
compressing proxy would send every page, stylesheet and script at full size. Only text types
are compressed: zips, audio and images are already compressed, and a 206 (a Range answer)
or a streamed body (downloads) is left exactly as it is. Production's nginx may do the same
job itself (docs/deploy.md); a response that already has a ``Content-Encoding`` is never
touched.
"""

from __future__ import annotations

import gzip

import brotli
from flask import Flask, Response, request

COMPRESSIBLE = frozenset({
    "text/html", "text/css", "text/plain", "text/csv", "application/javascript", "text/javascript",
    "application/json", "application/atom+xml", "application/xml", "image/svg+xml",
})
#: Below this a compressed body saves less than its headers cost.
MIN_SIZE = 512
BROTLI_QUALITY = 5  # per response, on the request's thread: fast, and most of the gain
GZIP_LEVEL = 6


def chosen_coding() -> str | None:
    """``br`` or ``gzip`` (in that order of preference) when the request accepts it."""
    accepted = request.accept_encodings
    for coding in ("br", "gzip"):
        if accepted[coding] > 0:
            return coding
    return None


def compress(response: Response) -> Response:
    if (response.status_code != 200 or response.mimetype not in COMPRESSIBLE
            or "Content-Encoding" in response.headers or request.method == "HEAD"):
        return response
    response.vary.add("Accept-Encoding")
    coding = chosen_coding()
    if coding is None or (response.is_streamed and not response.direct_passthrough):
        return response  # generated as it goes (nothing of ours that is text is): sent as it is
    response.direct_passthrough = False  # a static file: read it, it is small
    data = response.get_data()
    if len(data) < MIN_SIZE:
        return response
    body = brotli.compress(data, quality=BROTLI_QUALITY) if coding == "br" else gzip.compress(data, GZIP_LEVEL)
    response.set_data(body)
    response.headers["Content-Encoding"] = coding
    etag, weak = response.get_etag()
    if etag and not weak:
        # The compressed bytes differ from the plain ones: a strong validator would claim
        # they are the same. A weak one still matches If-None-Match, so 304s keep working.
        response.set_etag(etag, weak=True)
    return response


def register(app: Flask) -> None:
    if app.config["COMPRESS"]:
        app.after_request(compress)
