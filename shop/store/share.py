"""What a shared link to the store shows: template helpers for the meta description and the
OpenGraph and Twitter card tags (``store/_share_tags.html``). None of them queries: the pack
page is rendered once and cached, and its head must not cost a query per view."""

from __future__ import annotations

from shop.formatting import humandate, money
from shop.images import COVER_WIDTHS
from shop.models import Pack
from shop.store import bp
from shop.urls import absolute_url

DESCRIPTION_LENGTH = 200


@bp.app_template_global("pack_description")
def pack_description(pack: Pack) -> str:
    """One or two sentences for search results and link previews: the pack's blurb, else its
    sale window and minimum price."""
    if pack.blurb.strip():
        text = " ".join(pack.blurb.split())
        return text if len(text) <= DESCRIPTION_LENGTH else text[: DESCRIPTION_LENGTH - 1].rstrip() + "…"
    return (f"{pack.title}: independent albums on sale from {humandate(pack.starts_at)} to "
            f"{humandate(pack.ends_at)}. Pay what you want, from {money(pack.min_price_cents, pack.currency)}.")


bp.add_app_template_global(absolute_url, "absolute_url")
# A plain value, not a function: set on the environment itself, so the cached catalog block
# (rendered without context processors) sees it too.
bp.record_once(lambda state: state.app.jinja_env.globals.update(cover_widths=COVER_WIDTHS))
