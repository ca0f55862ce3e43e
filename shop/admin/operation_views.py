"""The console's pages about what runs behind the store: deliveries, queues and workers.

Thin: the work is in :mod:`shop.admin.operations` and ``seeding``. Redis being down never
makes these pages fail: they say "queue unavailable" and show what the database knows.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import audit, bp, operations, seeding
from shop.admin.views import operator
from shop.dropbox.models import Delivery
from shop.extensions import db
from shop.models import utcnow
from shop.queue import QueueUnavailable

JOB_ID_MAX = 200


@bp.get("/deliveries")
def deliveries() -> str:
    return render_template("admin/deliveries.html", groups=operations.delivery_groups(), now=utcnow(),
                           age=operations.age, retryable=operations.is_retryable)


@bp.post("/deliveries/<int:delivery_id>/retry")
def delivery_retry(delivery_id: int) -> BaseResponse:
    delivery = db.get_or_404(Delivery, delivery_id, description="No such delivery.")
    if operations.retry(delivery, operator(), request.remote_addr):
        flash(f"Delivery #{delivery_id} is queued again.")
    else:
        flash(f"Delivery #{delivery_id} was not retried: only failed or out-of-space deliveries of paid "
              "orders are, and not while another delivery of the same album and format is active.")
    return redirect(url_for("admin.deliveries"), 303)


@bp.post("/deliveries/retry-failed")
def deliveries_retry_failed() -> BaseResponse:
    retried, skipped = operations.retry_all_failed(operator(), request.remote_addr)
    flash(f"{retried} failed deliveries queued again" + (f", {skipped} skipped." if skipped else "."))
    return redirect(url_for("admin.deliveries"), 303)


@bp.get("/workers")
def workers() -> str:
    return render_template("admin/workers.html", overview=operations.queue_overview(),
                           dropbox=operations.dropbox_link(), expiring=seeding.expiring_albums(),
                           within_days=seeding.EXPIRING_WITHIN.days, now=utcnow(), age=operations.age)


def _requeue(job_id: str | None) -> BaseResponse:
    try:
        count = operations.requeue_failed(job_id, operator(), request.remote_addr)
    except operations.JobError as exc:
        flash(str(exc))
    except QueueUnavailable:
        flash("The queue is unavailable: nothing was requeued.")
    else:
        flash(f"{count} failed job(s) requeued.")
    return redirect(url_for("admin.workers"), 303)


@bp.post("/workers/failed/requeue")
def job_requeue() -> BaseResponse:
    job_id = request.form.get("job_id", "")[:JOB_ID_MAX]
    if not job_id:
        flash("Which job? No job id was sent.")
        return redirect(url_for("admin.workers"), 303)
    return _requeue(job_id)


@bp.post("/workers/failed/requeue-all")
def jobs_requeue_all() -> BaseResponse:
    return _requeue(None)


@bp.post("/workers/remint")
def references_remint() -> BaseResponse:
    """Seed the albums whose copy references expire soon, minting those references anew."""
    album_ids = seeding.expiring_album_ids()
    if not album_ids:
        flash("No copy reference expires soon: nothing to re-mint.")
        return redirect(url_for("admin.workers"), 303)
    try:
        queued = seeding.enqueue_seed(album_ids, remint_before=utcnow() + seeding.EXPIRING_WITHIN)
    except QueueUnavailable:
        flash("The queue is unavailable: nothing was started.")
        return redirect(url_for("admin.workers"), 303)
    audit.record(operator(), "references.remint", "dropbox", {"albums": album_ids, "queued": queued},
                 request.remote_addr)
    db.session.commit()
    flash(f"Re-minting the references of {len(album_ids)} album(s) (a seed job)." if queued
          else "A re-mint is already waiting for a worker.")
    return redirect(url_for("admin.workers"), 303)
