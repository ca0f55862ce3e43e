"""Store pages: the pack list, a pack, buying, covers and previews."""

from __future__ import annotations

import io

from flask import Response, abort, redirect, render_template, request, send_file, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from shop.extensions import db
from shop.gifts.service import attach as attach_gift
from shop.gifts.service import parse_gift_form
from shop.mailing.subscriptions import opt_in_at_checkout
from shop.models import Album, Pack, Track, utcnow
from shop.payments.checkout_session import checkout_tag, own_checkouts, remember_checkout
from shop.payments.providers import PaymentsUnavailable
from shop.storage import get_storage
from shop.store import bp, paybox
from shop.store.checkout import TooManyPurchases, cancelled_order, start_purchase
from shop.store.listing import listed_packs
from shop.store.pack_page import get_pack_and_state, pack_lineup, render_pack
from shop.store.pack_stats import stats_from, stats_statement

COVER_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


@bp.get("/")
def index() -> str:
    now = utcnow()
    packs = listed_packs()
    on_sale = [p for p in packs if p.is_on_sale(now)]
    # Not started yet, or in its window while its files are still being encoded.
    upcoming = [p for p in packs if not p.has_ended(now) and p not in on_sale]
    past = sorted((p for p in packs if p.has_ended(now)), key=lambda p: p.ends_at, reverse=True)
    return render_template("store/index.html", on_sale=on_sale, upcoming=upcoming, past=past, now=now)


@bp.get("/packs/<slug>")
def pack(slug: str) -> ResponseReturnValue:
    return render_pack(*get_pack_and_state(slug))


@bp.get("/packs/<slug>/stats.json")
def pack_stats_json(slug: str) -> dict[str, int | str | None]:
    row = db.session.execute(stats_statement(), {"value": slug}).first()
    if row is None:
        abort(404, "There is no pack at this address.")
    pack, stats = row[0], stats_from(row[1:])
    artists, charity, store = stats.raised()
    return {"purchases": stats.purchases, "total_cents": stats.total, "average_cents": stats.average,
            "currency": pack.currency, "threshold_cents": stats.threshold(pack),
            "artists_cents": artists, "charity_cents": charity, "store_cents": store,
            "charity": pack.charity_name}


@bp.post("/packs/<slug>/buy")
def buy(slug: str) -> ResponseReturnValue:
    pack, state, stats = get_pack_and_state(slug)
    if not pack.is_on_sale():
        ended = pack.has_ended()
        return render_template("store/ended.html", pack=pack, ended=ended), 410
    amount = paybox.chosen_amount(request.form)
    email = request.form.get("email", "")
    lineup = pack_lineup(pack, state, utcnow())
    choice = paybox.read_choice(request.form, pack, lineup.artists, lineup.bonus is not None, stats.threshold(pack))
    gift, gift_errors = parse_gift_form(request.form, utcnow().date())
    if gift_errors:
        return render_pack(pack, state, stats, form={**_form_echo(amount, email), **choice.values},
                           errors=gift_errors, status=400)
    try:
        result = start_purchase(pack, amount, email, checkout_tag=checkout_tag(session),
                                client=request.remote_addr or "unknown", paybox=choice)
    except PaymentsUnavailable:
        abort(503, "Payments are not available right now. Please try again later.")
    except TooManyPurchases:
        abort(429, "You have started many purchases in a short while. Please wait an hour and try again.")
    if result.errors:
        return render_pack(pack, state, stats, form={**_form_echo(amount, email), **choice.values},
                           errors=result.errors, status=400)
    assert result.order is not None and result.checkout_url is not None
    attach_gift(result.order, gift)
    if request.form.get("notify") == "yes":
        opt_in_at_checkout(result.order.email, url_for("store.pack", slug=slug), request.remote_addr)
    remember_checkout(session, result.order.payment_ref)
    return redirect(result.checkout_url, code=303)


def _form_echo(amount: str, email: str) -> dict[str, str]:
    """The buy form's fields as sent, shortened, to fill the form in again."""
    echo = {"amount": amount[:40], "email": email[:300]}
    for name, limit in (("gift", 3), ("recipient_email", 300), ("gift_message", 600), ("send_on", 20)):
        echo[name] = request.form.get(name, "")[:limit]
    return echo


@bp.get("/packs/<slug>/checkout-cancelled")
def checkout_cancelled(slug: str) -> ResponseReturnValue:
    """Back from the payment page without paying: the pack page, with this browser's amount
    and address filled in again (read-only: the pending order waits for the next buy)."""
    pack, state, stats = get_pack_and_state(slug)
    order = cancelled_order(pack, own_checkouts(session))
    if order is None or not pack.is_on_sale():
        return redirect(url_for("store.pack", slug=slug), code=303)
    form = {"amount": paybox.as_field(order.amount_cents, order.currency), "email": order.email}
    if order.split_artists is not None:
        form.update(split_artists=str(order.split_artists), split_charity=str(order.split_charity),
                    split_store=str(order.split_store))
    return render_pack(pack, state, stats, form=form)


def get_pack(slug: str) -> Pack:
    pack = db.session.scalar(select(Pack).where(Pack.slug == slug))
    if pack is None:
        abort(404, "There is no pack at this address.")
    return pack


def album_in_pack(slug: str, album_id: int) -> Album:
    album = db.session.get(Album, album_id)
    if album is None or album.pack.slug != slug:
        abort(404)
    return album


@bp.get("/packs/<slug>/albums/<int:album_id>/cover")
def cover(slug: str, album_id: int) -> Response:
    album = album_in_pack(slug, album_id)
    if not album.cover_key:
        abort(404)
    data = get_storage().read_bytes(album.cover_key)
    response = send_file(
        io.BytesIO(data),
        mimetype=COVER_TYPES.get(album.cover_extension, "application/octet-stream"),
        etag=album.cover_sha256 or False,
        conditional=True,
        max_age=86400,
    )
    return response


@bp.get("/packs/<slug>/tracks/<int:track_id>/preview.mp3")
def preview(slug: str, track_id: int) -> Response:
    """The track's preview clip (about 30 s from a quarter in, faded; made from the master
    by the encode job). Never the track itself: a track without a clip is a 404."""
    track = db.session.get(Track, track_id)
    if track is None or track.album.pack.slug != slug or track.preview_key is None:
        abort(404)
    data = get_storage().read_bytes(track.preview_key)
    return send_file(
        io.BytesIO(data), mimetype="audio/mpeg", etag=track.preview_sha256 or False, conditional=True,
        max_age=3600, download_name=None,
    )
