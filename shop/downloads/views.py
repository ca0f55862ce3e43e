"""Download routes: one track, one album zip, the whole pack zip (GET and HEAD)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote

from flask import Response, abort, current_app, request, url_for
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import http_date, quote_etag

from shop.downloads import bp
from shop.downloads.conditional import Decision, evaluate
from shop.downloads.counting import record_download_later
from shop.downloads.resources import Download, find_download, find_stream
from shop.downloads.streaming import stream
from shop.filenames import content_disposition
from shop.formats import ALIASES
from shop.models import OrderStatus
from shop.order_links import order_status_now
from shop.storage import get_storage

log = logging.getLogger(__name__)


@bp.get("/orders/<token>/tracks/<int:track_id>/<fmt>")
def track(token: str, track_id: int, fmt: str) -> Response:
    return _old_format_url(fmt) or serve(find_download(token, "track", track_id, fmt))


@bp.get("/orders/<token>/albums/<int:album_id>/<fmt>.zip")
def album(token: str, album_id: int, fmt: str) -> Response:
    return _old_format_url(fmt) or serve(find_download(token, "album", album_id, fmt))


@bp.get("/orders/<token>/pack/<fmt>.zip")
def pack(token: str, fmt: str) -> Response:
    return _old_format_url(fmt) or serve(find_download(token, "pack", None, fmt))


@bp.get("/orders/<token>/listen/<int:track_id>")
def listen(token: str, track_id: int) -> Response:
    """One bought track for the order page's player (:func:`find_stream` picks the format),
    with ``Range`` as a download has it, shown ``inline``. Listening is not a download: it is
    never counted (see :mod:`shop.downloads.counting`). A refund or a dispute stops it, as it
    stops a download."""
    return serve(find_stream(token, track_id))


def _old_format_url(fmt: str) -> Response | None:
    """A 301 from an old format id (``mp3``, from mails and bookmarks before masters) to the
    same URL with the id it means now (``mp3-v0``); None for any other id."""
    if fmt not in ALIASES:
        return None
    assert request.endpoint is not None
    args = {**(request.view_args or {}), "fmt": ALIASES[fmt]}
    return Response(status=301, headers={"Location": url_for(request.endpoint, **args)})


def serve(download: Download | None) -> Response:
    """Answer the current GET or HEAD for ``download`` (404 when ``None``)."""
    if download is None:
        abort(404)
    if _hand_off_to_nginx(download):
        return _accel_redirect(download)
    headers = request.headers
    decision = evaluate(
        request.method, download.size, download.etag, download.last_modified,
        range_header=headers.get("Range"),
        if_range=headers.get("If-Range"),
        if_match=headers.get("If-Match"),
        if_unmodified_since=headers.get("If-Unmodified-Since"),
        if_none_match=headers.get("If-None-Match"),
        if_modified_since=headers.get("If-Modified-Since"),
    )
    if decision.status == 416:
        raise RequestedRangeNotSatisfiable(length=download.size)
    if decision.status == 412:
        abort(412)

    response = Response(None, status=decision.status, content_type=download.mimetype,
                        direct_passthrough=True)
    response.headers.update({
        "ETag": quote_etag(download.etag),
        "Last-Modified": http_date(download.last_modified),
        "Cache-Control": "private",
        "Accept-Ranges": "bytes",
    })
    if decision.status == 304:
        return response
    response.headers["Content-Disposition"] = _disposition(download)
    response.headers["Content-Length"] = str(decision.length)
    if decision.status == 206:
        content_range = f"bytes {decision.first}-{decision.last}/{download.size}"
        response.headers["Content-Range"] = content_range
    if request.method == "GET":
        response.response = stream(
            download.source, get_storage(), decision.first, decision.length,
            on_complete=_counter(download) if _counts(download) and _reaches_end(decision, download.size) else None,
            still_allowed=_order_still_paid(download.order_id),
        )
    return response


def _counts(download: Download) -> bool:
    """Whether serving ``download`` to the end is a download to count: a stream for the
    player is not (listening never uses up anything, and the page's counts stay downloads)."""
    return download.kind != "stream"


def _disposition(download: Download) -> str:
    return content_disposition(download.filename, "inline" if download.kind == "stream" else "attachment")


def _reaches_end(decision: Decision, size: int) -> bool:
    """Whether this answer completes a download: a whole file, or a resume that runs to the
    end (``bytes=N-``). A suffix range (``bytes=-128``: a player reading tags at the end, an
    unzip tool reading the central directory) reaches the end too, but is not a download
    unless it covers the whole file."""
    if decision.status not in (200, 206) or decision.last != size - 1:
        return False
    suffix = request.headers.get("Range", "").replace(" ", "").lower().startswith("bytes=-")
    return decision.status == 200 or decision.first == 0 or not suffix


def _counter(download: Download) -> Callable[[], None]:
    return record_download_later(current_app._get_current_object(),  # type: ignore[attr-defined]
                                 download.order_id, download.kind, download.item_id, download.fmt)


def _order_still_paid(order_id: int) -> Callable[[], bool]:
    """Asked while streaming (after the view has returned, so in its own app context): a
    refund or a dispute stops a download already under way."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def check() -> bool:
        with app.app_context():
            status = order_status_now(order_id)
        if status != OrderStatus.PAID.value:
            log.info("order %s is %s: stopping a download under way", order_id, status)
            return False
        return True

    return check


def _hand_off_to_nginx(download: Download) -> bool:
    config = current_app.config
    return bool(config.get("X_ACCEL_REDIRECT")) and config.get("STORAGE", "local") == "local" \
        and download.storage_key is not None


def _accel_redirect(download: Download) -> Response:
    """Let nginx send a single stored file (see docs/downloads.md).

    nginx then answers ``Range``, ``If-Range`` and ``If-None-Match`` against the file
    itself and sets ``Content-Length``, ``ETag`` and ``Last-Modified``; nginx keeps the
    ``Content-Type``, ``Content-Disposition``, ``Cache-Control`` and ``Accept-Ranges``
    given here. Validators are nginx's, so the store evaluates only the range: a
    malformed one still gets the store's 416. The store cannot see the last byte leave,
    so a hand-off counts when it is made for a GET whose range (if any) runs to the end.
    """
    decision = evaluate(request.method, download.size, download.etag, download.last_modified,
                        range_header=request.headers.get("Range"))
    if decision.status == 416:
        raise RequestedRangeNotSatisfiable(length=download.size)
    prefix = current_app.config["X_ACCEL_REDIRECT"].rstrip("/")
    assert download.storage_key is not None
    response = Response(None, status=200, content_type=download.mimetype)
    response.headers.update({
        "X-Accel-Redirect": f"{prefix}/{quote(download.storage_key, safe='/')}",
        "Content-Disposition": _disposition(download),
        "Cache-Control": "private",
        "Accept-Ranges": "bytes",
    })
    if request.method == "GET" and _counts(download) and _reaches_end(decision, download.size):
        _counter(download)()
    return response
