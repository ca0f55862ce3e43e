"""The console's list page: size, each announcement's progress, announce a pack, export."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import bp
from shop.admin import mailing as admin_mailing
from shop.admin.views import operator
from shop.extensions import db
from shop.models import Pack
from shop.queue import QueueUnavailable


@bp.get("/list")
def mailing_list() -> str:
    packs = db.session.scalars(db.select(Pack).order_by(Pack.starts_at.desc(), Pack.id.desc())).all()
    return render_template("admin/mailing.html", size=admin_mailing.list_size(),
                           announcements=admin_mailing.progress_rows(), packs=packs)


@bp.post("/list/announce")
def mailing_announce() -> BaseResponse:
    pack = db.get_or_404(Pack, request.form.get("pack_id", type=int) or 0, description="No such pack.")
    try:
        announcement, created = admin_mailing.announce(pack, operator(), request.remote_addr)
    except QueueUnavailable:
        flash("The announcement is recorded, but the queue is down: the worker sends it once Redis is back.")
    else:
        flash(f"Announcing {pack.title} to {announcement.total} subscribers." if created
              else f"{pack.title} was announced already; what was left of it is sent, nobody gets it twice.")
    return redirect(url_for("admin.mailing_list"), 303)


@bp.get("/list/subscribers.csv")
def mailing_export() -> Response:
    body = "".join(admin_mailing.export_confirmed(operator(), request.remote_addr))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="subscribers.csv"'
    return response
