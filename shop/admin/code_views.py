"""The console's download-code pages: make a batch, export it, watch redemptions, revoke.
The work is in :mod:`shop.codes.batches`; every change and export leaves an audit row."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import audit, bp
from shop.admin.views import operator
from shop.codes import batches
from shop.codes.models import CodeBatch
from shop.extensions import db
from shop.models import Album, Pack


def _back() -> BaseResponse:
    return redirect(url_for("admin.codes"), 303)


@bp.get("/codes")
def codes() -> str:
    packs = db.session.scalars(db.select(Pack).order_by(Pack.starts_at.desc(), Pack.id.desc())).all()
    albums = db.session.scalars(db.select(Album).order_by(Album.pack_id, Album.position)).all()
    return render_template("admin/codes.html", packs=packs, albums=albums, summaries=batches.summaries(),
                           max_batch=batches.MAX_BATCH)


@bp.post("/codes")
def codes_create() -> BaseResponse:
    pack = db.get_or_404(Pack, request.form.get("pack_id", type=int) or 0, description="No such pack.")
    size = request.form.get("size", type=int)
    label = request.form.get("label", "")[:120]
    album_id = request.form.get("album_id", type=int)
    album = db.get_or_404(Album, album_id, description="No such album.") if album_id else None
    try:
        batch = batches.create_batch(pack, size or 0, album=album, label=label, created_by=operator().email)
    except batches.BatchError as exc:
        db.session.rollback()
        flash(f"No codes made: {exc}")
        return _back()
    audit.record(operator(), "codes.batch", f"code_batch:{batch.id}",
                 {"pack": pack.slug, "album": album.id if album else None, "size": batch.size, "label": batch.label},
                 request.remote_addr)
    db.session.commit()
    flash(f"{batch.size:,} codes made for {pack.title}. Download them as CSV from the list below.")
    return _back()


def _batch(batch_id: int) -> CodeBatch:
    return db.get_or_404(CodeBatch, batch_id, description="No such batch of codes.")


@bp.get("/codes/<int:batch_id>/codes.csv")
def codes_csv(batch_id: int) -> Response:
    batch = _batch(batch_id)
    # Working codes leave the store here: who took them is worth a row.
    audit.record(operator(), "codes.export", f"code_batch:{batch.id}", {"size": batch.size}, request.remote_addr)
    db.session.commit()
    response = Response(list(batches.export_rows(batch)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{batch.pack.slug}-codes-{batch.id}.csv"'
    return response


@bp.post("/codes/<int:batch_id>/revoke")
def codes_revoke_batch(batch_id: int) -> BaseResponse:
    batch = _batch(batch_id)
    if batches.revoke_batch(batch):
        audit.record(operator(), "codes.revoke_batch", f"code_batch:{batch.id}", {}, request.remote_addr)
        db.session.commit()
        flash(f"Batch #{batch.id} revoked: its unredeemed codes open nothing now; redeemed ones keep their orders.")
    else:
        flash(f"Batch #{batch.id} was already revoked.")
    return _back()


@bp.post("/codes/revoke-one")
def codes_revoke_one() -> BaseResponse:
    code = batches.revoke_code(request.form.get("code", "")[:64])
    if code is None:
        db.session.rollback()
        flash("No live, unredeemed code matches that.")
        return _back()
    audit.record(operator(), "codes.revoke_code", f"code_batch:{code.batch_id}", {"code_id": code.id},
                 request.remote_addr)
    db.session.commit()
    flash(f"That code of batch #{code.batch_id} is revoked.")
    return _back()
