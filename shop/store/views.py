"""Store pages: the pack list, a pack, buying, covers and previews."""

from __future__ import annotations

import functools
import io
import re
import secrets
from datetime import datetime
from typing import Any

from flask import Response, abort, current_app, redirect, render_template, request, send_file, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from shop.extensions import db
from shop.formats import FORMATS, BuyerFormat, get_format
from shop.gifts.service import attach as attach_gift
from shop.gifts.service import parse_gift_form
from shop.mailing.subscriptions import opt_in_at_checkout
from shop.models import Album, Pack, Track, TrackFile, utcnow
from shop.orders.page import STATE_COLUMNS, CatalogState, cached, catalog_state, pack_with_state_statement
from shop.payments.checkout_session import checkout_tag, own_checkouts, remember_checkout
from shop.payments.providers import PaymentsUnavailable
from shop.storage import get_storage
from shop.store import bp, paybox
from shop.store.checkout import TooManyPurchases, cancelled_order, start_purchase
from shop.store.listing import listed_packs, next_pack
from shop.store.pack_stats import (
    Lineup,
    PackStats,
    default_form,
    lineup_of,
    stats_columns,
    stats_from,
    stats_shown,
    stats_statement,
)

COVER_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def get_pack(slug: str) -> Pack:
    pack = db.session.scalar(select(Pack).where(Pack.slug == slug))
    if pack is None:
        abort(404, "There is no pack at this address.")
    return pack


@bp.app_template_global("buyer_formats")
def buyer_formats() -> tuple[BuyerFormat, ...]:
    """Every buyer format in display order, with labels and descriptions, for templates."""
    return FORMATS


@bp.app_template_global("buyer_format")
def buyer_format(format_id: str) -> BuyerFormat:
    return get_format(format_id)


@bp.get("/")
def index() -> str:
    now = utcnow()
    packs = listed_packs()
    on_sale = [p for p in packs if p.is_on_sale(now)]
    # Not started yet, or in its window while its files are still being encoded.
    upcoming = [p for p in packs if not p.has_ended(now) and p not in on_sale]
    past = sorted((p for p in packs if p.has_ended(now)), key=lambda p: p.ends_at, reverse=True)
    return render_template("store/index.html", on_sale=on_sale, upcoming=upcoming, past=past, now=now)


@functools.cache
def _pack_page_statement() -> Select[Any]:
    """The pack at ``:value`` (its slug), its catalog state and its stats, in one round trip.
    Built once."""
    return pack_with_state_statement("slug").add_columns(*stats_columns())


def get_pack_and_state(slug: str) -> tuple[Pack, CatalogState, PackStats]:
    """The pack at ``slug``, its :class:`CatalogState` and its stats, in one query (404 when
    there is none)."""
    row = db.session.execute(_pack_page_statement(), {"value": slug}).first()
    if row is None:
        abort(404, "There is no pack at this address.")
    return row[0], catalog_state(row[1:STATE_COLUMNS + 1]), stats_from(row[STATE_COLUMNS + 1:])


def pack_lineup(pack: Pack, state: CatalogState, now: datetime) -> Lineup:
    def read() -> Lineup:
        return lineup_of(db.session.scalars(select(Album).where(Album.pack_id == pack.id)).all())

    return cached(("pack lineup", pack.id, state.version), read) if state.cacheable(pack, now) else read()


def album_sizes(pack_id: int) -> dict[tuple[int, str], int]:
    """``{(album_id, format): bytes}`` for every album of the pack, summed in the database."""
    rows = db.session.execute(
        select(Track.album_id, TrackFile.format, func.sum(TrackFile.size))
        .join(Track, Track.id == TrackFile.track_id)
        .join(Album, Album.id == Track.album_id)
        .where(Album.pack_id == pack_id)
        .group_by(Track.album_id, TrackFile.format)
    )
    return {(album_id, fmt): int(size) for album_id, fmt, size in rows}


def pack_albums(pack: Pack) -> list[Album]:
    return list(db.session.scalars(
        select(Album).where(Album.pack_id == pack.id).order_by(Album.position).options(selectinload(Album.tracks))
    ).all())


def render_catalog(pack: Pack, albums: list[Album] | None = None) -> Markup:
    """The ``catalog`` block of ``store/pack.html``: three queries whatever the pack's size."""
    albums = pack_albums(pack) if albums is None else albums
    template = current_app.jinja_env.get_template("store/pack.html")
    context = template.new_context({"pack": pack, "albums": albums, "sizes": album_sizes(pack.id)})
    return Markup("".join(template.blocks["catalog"](context)))


def catalog_html(pack: Pack, state: CatalogState, now: datetime) -> Markup:
    """The catalog part of the page, rendered once per process, pack and catalog version
    while the pack cannot change (see :meth:`CatalogState.cacheable`)."""
    if not state.cacheable(pack, now):
        return render_catalog(pack)
    return cached(("pack page catalog", pack.id, state.version), lambda: render_catalog(pack))



#: Stand-ins for what differs between two views of a cached pack page: rendered into the
#: page once, replaced on every view (plain ASCII, so escaping leaves them as they are).
_SLOT = f"shop-slot-{secrets.token_hex(8)}"
STAT_NAMES = ("purchases", "average", "total", "threshold", "threshold_cents", "threshold_token", "raised_artists",
              "raised_charity", "raised_store", "average_preset", "average_preset_label")
SLOTS = {name: f"@@{_SLOT}-{name}@@" for name in ("csrf", *STAT_NAMES)}
INDENTATION = re.compile(r"\n[ \t]+")


def pack_page_shell(pack: Pack, state: CatalogState, now: datetime, on_sale: bool,
                    coming: Pack | None = None) -> str:
    """The whole pack page with :data:`SLOTS` where the CSRF token and the stats go, rendered
    once per process, pack, catalog version and phase while nothing can change it (see
    :meth:`CatalogState.cacheable`; the pack's own fields are in the key as well, and so is
    the pack an ended page points to)."""
    fields = (pack.title, pack.blurb, pack.starts_at, pack.ends_at, pack.currency, pack.min_price_cents,
              pack.suggested_price_cents, pack.split_artists, pack.split_charity, pack.split_store,
              pack.store_min_percent, pack.charity_name, pack.charity_min_percent, pack.preset_amounts)
    coming_fields = (coming.id, coming.slug, coming.title, coming.starts_at) if coming else None
    key = ("pack page", pack.id, state.version, on_sale, fields, coming_fields)

    def render() -> str:
        albums = pack_albums(pack)
        lineup = lineup_of(albums)
        html = render_template(
            "store/pack.html", pack=pack, catalog=render_catalog(pack, albums), on_sale=on_sale, preparing=False,
            stats={name: SLOTS[name] for name in STAT_NAMES}, lineup=lineup,
            form=default_form(pack, lineup), errors={}, now=now, csrf_token=lambda: SLOTS["csrf"], coming=coming,
        )
        # Indentation is a fifth of the page's bytes; a line break renders the same.
        return INDENTATION.sub("\n", html)

    return cached(key, render)


def render_pack(pack: Pack, state: CatalogState, stats: PackStats, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    now = utcnow()
    on_sale = pack.starts_at <= now < pack.ends_at and not state.preparing
    if on_sale:
        checkout_tag(session)  # start the checkout session with the form (see shop.payments.checkout_session)
    # An ended page points to what is next: one more query, on ended pages only.
    coming = next_pack(pack, now) if pack.has_ended(now) else None
    if form is None and not errors and state.cacheable(pack, now) and "_flashes" not in session:
        html = pack_page_shell(pack, state, now, on_sale, coming)
        values = {"csrf": generate_csrf(), **stats_shown(pack, stats)}
        for name, slot in SLOTS.items():
            html = html.replace(slot, escape(values[name]))
        return html, status
    lineup = pack_lineup(pack, state, now)
    # A form sent back keeps the threshold its buyer was shown while it holds.
    token = (form or {}).get("threshold") or None
    form = {**default_form(pack, lineup), **(form or {})}
    return (
        render_template(
            "store/pack.html",
            pack=pack,
            catalog=catalog_html(pack, state, now),
            on_sale=on_sale,
            preparing=state.preparing and not pack.has_ended(now),
            coming=coming,
            stats=stats_shown(pack, stats, token),
            lineup=lineup,
            form=form,
            errors=errors or {},
            now=now,
        ),
        status,
    )


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
