"""The console's pack pages: create and schedule, edit, upload masters, watch them encode and
seed, put the pack on sale. Thin: the work is in :mod:`shop.admin.pack_form` (the pack form),
:mod:`shop.admin.packs` (progress and going on sale), ``uploads`` and ``seeding``."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse
from wtforms import ValidationError  # type: ignore[import-untyped]

from shop.admin import audit, bp, multipart, pack_form, packs, seeding, uploads
from shop.admin.views import operator
from shop.catalog.importer import CatalogImportError
from shop.catalog.jobs import enqueue_tracks, waiting_track_ids
from shop.extensions import csrf, db
from shop.models import Album, Pack
from shop.queue import QueueUnavailable

#: How often the pack page asks for progress while something is under way (milliseconds).
POLL_MS = 2000


def _pack(pack_id: int) -> Pack:
    return db.get_or_404(Pack, pack_id, description="No such pack.")


def _back(pack_id: int) -> BaseResponse:
    return redirect(url_for("admin.pack", pack_id=pack_id), 303)


@bp.get("/packs")
def packs_list() -> str:
    rows = db.session.scalars(db.select(Pack).order_by(Pack.starts_at.desc(), Pack.id.desc())).all()
    return render_template("admin/packs.html", packs=[(p, packs.sale_state(p)) for p in rows])


@bp.route("/packs/new", methods=["GET", "POST"])
def pack_new() -> BaseResponse | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("admin/pack_form.html", pack=None, values=pack_form.form_values(None), errors={})
    values = pack_form.posted_values(request.form)
    try:
        form = pack_form.parse_form(values)
    except pack_form.PackFormError as exc:
        return render_template("admin/pack_form.html", pack=None, values=values, errors=exc.errors), 400
    pack = pack_form.create(form, operator(), request.remote_addr)
    flash(f"Pack {pack.title} created, scheduled from {pack.starts_at:%Y-%m-%d %H:%M} UTC. Upload its albums next.")
    return _back(pack.id)


@bp.route("/packs/<int:pack_id>/edit", methods=["GET", "POST"])
def pack_edit(pack_id: int) -> BaseResponse | str | tuple[str, int]:
    pack = _pack(pack_id)
    refusal = pack_form.edit_refusal(pack)
    if request.method == "GET":
        return render_template("admin/pack_form.html", pack=pack, values=pack_form.form_values(pack), errors={},
                               refusal=refusal)
    values = pack_form.posted_values(request.form)
    try:
        form = pack_form.parse_form(values, existing=pack)
        pack_form.update(pack, form, operator(), request.remote_addr)
    except pack_form.PackFormError as exc:
        return render_template("admin/pack_form.html", pack=pack, values=values, errors=exc.errors,
                               refusal=refusal), 400
    flash("Pack saved.")
    return _back(pack_id)


def _progress(pack: Pack) -> dict[str, Any]:
    albums = packs.album_progress(pack)
    gaps = packs.missing(pack, albums)
    album_ids = [a.id for a in albums]
    seed_state = seeding.seed_job_state(album_ids) if album_ids else None
    busy = any(a.state == "encoding" for a in albums) or seed_state in ("queued", "started")
    return {"pack": pack, "albums": albums, "missing": gaps, "state": packs.sale_state(pack),
            "seed_state": seed_state, "busy": busy, "dropbox": packs.dropbox_in_use()}


@bp.get("/packs/<int:pack_id>")
def pack(pack_id: int) -> str:
    found = _pack(pack_id)
    return render_template("admin/pack.html", pack=found, progress=_progress(found), poll_ms=POLL_MS,
                           upload_max=current_app.config["ADMIN_UPLOAD_MAX_BYTES"],
                           refusal=pack_form.edit_refusal(found))


@bp.get("/packs/<int:pack_id>/progress")
def pack_progress(pack_id: int) -> BaseResponse:
    """What the pack page polls: per album, encodes and seeding, and what is missing."""
    found = _pack(pack_id)
    progress = _progress(found)
    return jsonify({
        "state": progress["state"], "missing": progress["missing"], "busy": progress["busy"],
        "seed_job": progress["seed_state"], "albums": [a.as_json() for a in progress["albums"]],
        "html": render_template("admin/_pack_progress.html", **progress),
    })


def _upload_csrf(token: str | None) -> None:
    """The upload's CSRF check: the app-wide one would read the body under the 64 KiB cap."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise CSRFError(str(exc.args[0]) if exc.args else "The CSRF token is missing.") from None


def _upload_answer(status: int, message: str) -> BaseResponse:
    if request.accept_mimetypes.best == "application/json" or request.headers.get("X-Requested-With"):
        response = jsonify({"ok": False, "error": message})
        response.status_code = status
        return response
    flash(f"Upload refused: {message}")
    return redirect(url_for("admin.pack", pack_id=request.view_args["pack_id"] if request.view_args else 0), 303)


@bp.post("/packs/<int:pack_id>/upload")
def pack_upload(pack_id: int) -> BaseResponse:
    """One album's masters and cover, or its zip, streamed to a temporary folder and imported."""
    found = _pack(pack_id)
    cap = int(current_app.config["ADMIN_UPLOAD_MAX_BYTES"])
    # Only this endpoint takes a large body; the request's own limit replaces the app's 64 KiB.
    request.max_content_length = cap
    with uploads.staging() as folder:
        try:
            if request.mimetype != "multipart/form-data":
                raise multipart.Refused("the upload must be sent as a multipart form (multipart/form-data)")
            received = multipart.receive(request.stream, dict(request.mimetype_params), request.content_length,
                                         folder, cap)
        except (multipart.Refused, RequestEntityTooLarge) as exc:
            # The body was not read (whole): only the header can carry the CSRF token here.
            _upload_csrf(request.headers.get("X-CSRFToken"))
            refused = exc if isinstance(exc, multipart.Refused) else multipart.TooLarge(cap)
            return _upload_answer(refused.status, str(refused))
        _upload_csrf(request.headers.get("X-CSRFToken") or received.form.get("csrf_token"))
        refusal = pack_form.edit_refusal(found)
        if refusal:
            # A new album puts the pack back to "being prepared", off sale until it is encoded.
            return _upload_answer(409, f"no albums can be added: {refusal}")
        try:
            album = uploads.lay_out(received, cap)
            result = uploads.import_upload(found, album, operator(), request.remote_addr)
        except uploads.UploadError as exc:
            return _upload_answer(400, str(exc))
        except CatalogImportError as exc:
            return _upload_answer(400, f"import refused, nothing was changed. {exc}")
    if request.headers.get("X-Requested-With"):
        return jsonify(result.as_json())
    flash(f"Imported: {result.summary}")
    if result.queue_unavailable:
        flash("The queue is unavailable: the encodes wait and the worker's sweep picks them up.")
    return _back(pack_id)


# Exempt from the app-wide check, which reads the form under the app's 64 KiB cap before any
# view runs; :func:`pack_upload` checks the token itself (header, or the parsed form field).
csrf.exempt(f"{__name__}.pack_upload")


@bp.post("/packs/<int:pack_id>/encode")
def pack_encode(pack_id: int) -> BaseResponse:
    """Queue every encode of the pack still missing, failed ones included (``flask catalog encode``)."""
    found = _pack(pack_id)
    track_ids = waiting_track_ids(pack_id=found.id, include_failed=True)
    result = enqueue_tracks(track_ids)
    audit.record(operator(), "pack.encode", f"pack:{found.id}",
                 {"tracks": len(track_ids), "enqueued": result.enqueued, "unavailable": bool(result.unavailable)},
                 request.remote_addr)
    db.session.commit()
    if not track_ids:
        flash("Nothing to encode: every file is done.")
    elif result.unavailable:
        flash(f"The queue is unavailable: {len(track_ids)} track(s) wait; the worker picks them up when it is back.")
    else:
        flash(f"{len(track_ids)} track(s) queued for encoding.")
    return _back(pack_id)


@bp.post("/packs/<int:pack_id>/seed")
def pack_seed(pack_id: int) -> BaseResponse:
    """Seed the pack's albums into the store's Dropbox, as a job (see :mod:`shop.admin.seeding`)."""
    found = _pack(pack_id)
    album_ids = list(db.session.scalars(db.select(Album.id).where(Album.pack_id == found.id)))
    if not album_ids:
        flash("No albums to seed yet.")
        return _back(pack_id)
    try:
        queued = seeding.enqueue_seed(album_ids)
    except QueueUnavailable:
        flash("The queue is unavailable: nothing was started. Try again, or run `flask dropbox seed`.")
        return _back(pack_id)
    audit.record(operator(), "pack.seed", f"pack:{found.id}", {"albums": album_ids, "queued": queued},
                 request.remote_addr)
    db.session.commit()
    flash("Seeding to Dropbox started." if queued else "Seeding is already waiting for a worker.")
    return _back(pack_id)


@bp.post("/packs/<int:pack_id>/put-on-sale")
def pack_put_on_sale(pack_id: int) -> BaseResponse:
    found = _pack(pack_id)
    try:
        started = packs.put_on_sale(found, operator(), request.remote_addr)
    except packs.NotReady as exc:
        flash(f"Not on sale: {exc}")
        return _back(pack_id)
    flash(f"{found.title} is on sale until {found.ends_at:%Y-%m-%d %H:%M} UTC." if started
          else "The pack was on sale already.")
    return _back(pack_id)

