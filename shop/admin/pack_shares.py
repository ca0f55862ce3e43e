"""The artists' part of a pack's default shares: equal per album, or by weights the operator
sets (``Album.share_weight``). The store's and the charity's percentages are the pay box's
(the pack's edit form); this only divides what goes to the artists. Editable only while the
pack may be edited (before it goes on sale and before any order), so an order's shares never
change under it."""

from __future__ import annotations

from collections.abc import Mapping

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import audit, bp
from shop.admin.pack_form import edit_refusal
from shop.admin.views import operator
from shop.extensions import db
from shop.models import Album, Pack

#: The largest weight one album may have (a larger one is a typo, and would be refused anyway
#: by PostgreSQL's INTEGER long before any sum mattered).
MAX_WEIGHT = 1000


class SharesRefused(ValueError):
    """The shares were not saved; ``str(exc)`` says why."""


def is_equal(albums: list[Album]) -> bool:
    return len({a.share_weight for a in albums}) <= 1 and all(a.share_weight > 0 for a in albums)


def parse_weights(albums: list[Album], form: Mapping[str, str]) -> dict[int, int]:
    """The weight for each album from ``weight-<album id>`` fields (mode ``weights``), or 1 for
    each (mode ``equal``).

    :raises SharesRefused: for a missing, non-integer, negative or too large weight, or all zero.
    """
    mode = form.get("mode", "")
    if mode == "equal":
        return {a.id: 1 for a in albums}
    if mode != "weights":
        raise SharesRefused("choose “equally per album” or “by weights”")
    weights: dict[int, int] = {}
    for album in albums:
        raw = str(form.get(f"weight-{album.id}", "")).strip()
        if not raw.isascii() or not raw.isdigit():
            raise SharesRefused(f"the weight of {album.title!r} must be a whole number from 0 to {MAX_WEIGHT}")
        weight = int(raw[:12])
        if len(raw) > 12 or weight > MAX_WEIGHT:
            raise SharesRefused(f"the weight of {album.title!r} is above {MAX_WEIGHT}")
        weights[album.id] = weight
    if not any(weights.values()):
        raise SharesRefused("at least one album needs a weight above 0, or the artists' part would go to no one")
    return weights


@bp.post("/packs/<int:pack_id>/shares")
def pack_shares(pack_id: int) -> BaseResponse:
    pack = db.get_or_404(Pack, pack_id, description="No such pack.")
    back = redirect(url_for("admin.pack", pack_id=pack.id) + "#shares", 303)
    refusal = edit_refusal(pack)
    albums = sorted(pack.albums, key=lambda a: a.position)
    try:
        if refusal:
            raise SharesRefused(f"the shares can no longer change: {refusal}")
        if not albums:
            raise SharesRefused("the pack has no albums yet")
        weights = parse_weights(albums, request.form)
    except SharesRefused as exc:
        flash(f"Shares not saved: {exc}.")
        return back
    before = {a.id: a.share_weight for a in albums}
    for album in albums:
        album.share_weight = weights[album.id]
    if before != weights:
        audit.record(operator(), "pack.shares", f"pack:{pack.id}",
                     {"from": {str(k): v for k, v in before.items()}, "to": {str(k): v for k, v in weights.items()}},
                     request.remote_addr)
    db.session.commit()
    flash("Shares saved: the artists' part is divided " + ("equally per album." if is_equal(albums) else "by weight."))
    return back
