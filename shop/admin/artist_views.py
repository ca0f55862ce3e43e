"""The console's artist pages: the list with what each is owed, one artist's page (edit,
albums, statements by month, statement links), the statement as CSV, merge or keep apart.
Thin: the work is in :mod:`shop.admin.artists`, the figures in :mod:`shop.ledger.statements`."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import artists as admin_artists
from shop.admin import audit, bp
from shop.admin.orders import csv_cell
from shop.admin.views import operator
from shop.artists import MAX_LINKS, Artist, PayoutMethod, StatementLink
from shop.currencies import format_plain
from shop.extensions import db
from shop.ledger.statements import balances, month_bounds, statements
from shop.models import utcnow
from shop.statements import figures, links
from shop.urls import absolute_url

#: The statement CSV's columns, one row per currency.
CSV_HEADER = ("artist_id", "artist", "month", "currency", "carried_in", "gross", "refunds", "disputes", "fees",
              "net", "paid_out", "balance_carried")


def _artist(artist_id: int) -> Artist:
    return db.get_or_404(Artist, artist_id, description="No such artist.")


def _back(artist_id: int) -> BaseResponse:
    return redirect(url_for("admin.artist", artist_id=artist_id), 303)


def _month_arg() -> str:
    """``?month=``, checked (400 with a clear message); this month when absent."""
    month = request.args.get("month") or figures.month_of(utcnow())
    try:
        month_bounds(month)
    except ValueError:
        abort(400, f"{month[:40]!r} is not a month: write it as YYYY-MM, e.g. 2026-11.")
    return month


@bp.get("/artists")
def artists() -> str:
    return render_template("admin/artists.html", rows=admin_artists.artist_rows())


def _render_artist(artist: Artist, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                   new_link: str | None = None, status: int = 200) -> tuple[str, int]:
    month = _month_arg()
    owed = sorted((currency, cents) for (_, currency), cents in balances(artist.id).items())
    body = render_template(
        "admin/artist.html", artist=artist, values=values or admin_artists.form_values(artist), errors=errors or {},
        methods=list(PayoutMethod), max_links=MAX_LINKS, month=month, month_statements=statements(artist.id, month),
        months=figures.months_with_statements(artist.id), owed=owed, statement_links=links.live_links(artist.id),
        new_link=new_link, sales=figures.album_sales(artist), merge_refusal=admin_artists.merge_refusal(artist),
        twins=db.session.scalars(db.select(Artist).where(Artist.same_as_id == artist.id)).all(),
    )
    return body, status


@bp.get("/artists/<int:artist_id>")
def artist(artist_id: int) -> tuple[str, int]:
    return _render_artist(_artist(artist_id))


@bp.post("/artists/<int:artist_id>")
def artist_edit(artist_id: int) -> BaseResponse | tuple[str, int]:
    found = _artist(artist_id)
    values = admin_artists.posted_values(request.form)
    try:
        form = admin_artists.parse_form(values, found)
    except admin_artists.ArtistFormError as exc:
        db.session.rollback()
        return _render_artist(found, values, exc.errors, status=400)
    changed = admin_artists.update_artist(found, form, operator(), request.remote_addr)
    flash(f"Saved: {', '.join(changed)}." if changed else "Nothing changed.")
    return _back(artist_id)


@bp.post("/artists/<int:artist_id>/links")
def artist_link_new(artist_id: int) -> tuple[str, int]:
    """Mint a statement link and show it on this answer only (it is stored hashed)."""
    found = _artist(artist_id)
    token = links.mint(found)
    db.session.flush()
    audit.record(operator(), "artist.statement_link", f"artist:{found.id}", {}, request.remote_addr)
    db.session.commit()
    return _render_artist(found, new_link=absolute_url("statements.show", token=token))


@bp.post("/artists/<int:artist_id>/links/<int:link_id>/revoke")
def artist_link_revoke(artist_id: int, link_id: int) -> BaseResponse:
    found = _artist(artist_id)
    link = db.session.get(StatementLink, link_id)
    if link is None or link.artist_id != found.id:
        abort(404, "No such statement link for this artist.")
    if links.revoke(found.id, link.id):
        audit.record(operator(), "artist.statement_link_revoke", f"artist:{found.id}", {"link": link.id},
                     request.remote_addr)
        db.session.commit()
        flash(f"Statement link #{link.id} revoked: it opens nothing now.")
    else:
        flash(f"Statement link #{link.id} was revoked already.")
    return _back(artist_id)


@bp.post("/artists/<int:artist_id>/merge")
def artist_merge(artist_id: int) -> BaseResponse:
    found = _artist(artist_id)
    name = found.name
    try:
        target = admin_artists.merge(found, operator(), request.remote_addr)
    except admin_artists.MergeRefused as exc:
        db.session.rollback()
        flash(f"Not merged: {exc}.")
        return _back(artist_id)
    flash(f"{name} merged into {target.name}: their albums are {target.name}'s now.")
    return _back(target.id)


@bp.post("/artists/<int:artist_id>/keep-apart")
def artist_keep_apart(artist_id: int) -> BaseResponse:
    found = _artist(artist_id)
    if admin_artists.keep_apart(found, operator(), request.remote_addr):
        flash(f"{found.name} is kept apart: two artists, two statements.")
    else:
        flash(f"{found.name} was not marked as a possible duplicate.")
    return _back(artist_id)


@bp.get("/artists/<int:artist_id>/statement.csv")
def artist_statement_csv(artist_id: int) -> Response:
    found = _artist(artist_id)
    if not request.args.get("month"):
        abort(400, "Say which month: ?month=YYYY-MM, e.g. 2026-11.")
    month = _month_arg()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for s in statements(found.id, month):
        amounts = (s.opening_cents, s.gross_cents, s.refunds_cents, s.disputes_cents, s.fees_cents, s.net_cents,
                   s.paid_out_cents, s.closing_cents)
        # Text cells are made safe for spreadsheets; amounts are numbers we wrote (a minus is a sign).
        writer.writerow([found.id, csv_cell(found.name), month, csv_cell(s.currency),
                         *(format_plain(a, s.currency) for a in amounts)])
    audit.export(operator(), "artist.statement_csv", f"artist:{found.id}", buffer.getvalue().count("\n") - 1,
                 request.remote_addr)
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="artist-{found.id}-statement-{month}.csv"'
    return response
