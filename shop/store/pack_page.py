"""The store's pack page: the pack read with its catalog state and stats in one query, and the
page rendered from the per-process cache while nothing can change it (:mod:`shop.page_cache`;
the pay box's numbers and form come from :mod:`shop.store.pack_stats`). It mirrors the
order page's view model, which reads the same catalog state with the order."""

from __future__ import annotations

import functools
import re
import secrets
from datetime import datetime
from typing import Any

from flask import abort, current_app, render_template, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload, selectinload

from shop.catalog.state import STATE_COLUMNS, CatalogState, catalog_state, pack_with_state_statement
from shop.extensions import db
from shop.models import Album, Pack, Track, TrackFile, utcnow
from shop.page_cache import cached
from shop.payments.checkout_session import checkout_tag
from shop.store.listing import next_pack
from shop.store.pack_stats import Lineup, PackStats, default_form, lineup_of, stats_columns, stats_from, stats_shown


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
        select(Album).where(Album.pack_id == pack.id).order_by(Album.position)
        .options(selectinload(Album.tracks), joinedload(Album.artist_record))  # one query either way
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
