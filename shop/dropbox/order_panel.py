"""The order page's Dropbox panel: the connected account and the latest delivery per target."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import current_app, has_request_context, session
from sqlalchemy import BindParameter, Select, bindparam, func, select
from sqlalchemy.orm import joinedload

from shop.dropbox.delivery_progress import progress
from shop.dropbox.models import IN_PROGRESS_STATUSES, Delivery, DropboxConnection, delivery_target
from shop.extensions import db
from shop.models import Order

#: Dropbox's web view of a folder: this followed by the folder's path from the Dropbox's root.
DROPBOX_WEB_HOME = "https://www.dropbox.com/home/"

# In the buyer's session: the last "does not fit" answer (set by the deliver and retry views),
# shown beside the album or pack it was for, for a while. Read, never popped: the order page
# changes nothing, and a later delivery of that target that fits clears it.
SPACE_REFUSAL_KEY = "dropbox_space_refusal"
SPACE_REFUSAL_SHOWN_FOR = 15 * 60  # seconds


@dataclass
class DropboxState:
    configured: bool
    connection: DropboxConnection | None
    app_folder: str
    # The newest delivery per target (see delivery_target), as progress dictionaries.
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The last space refusal for this order: SpaceVerdict.as_json() plus "target".
    space_refusal: dict[str, Any] | None = None

    def space_refusal_for(self, album_id: int | None) -> dict[str, Any] | None:
        """The "does not fit" answer for one album (or the pack when None), if one is recent."""
        refusal = self.space_refusal
        return refusal if refusal and refusal.get("target") == delivery_target(album_id) else None

    def latest_for(self, album_id: int | None) -> dict[str, Any] | None:
        """The newest delivery of one album, or of the pack when ``album_id`` is None."""
        return self.latest.get(delivery_target(album_id))

    def open_url(self, delivery: dict[str, Any]) -> str:
        """Where "open it" leads once ``delivery`` (a progress dictionary) is done: its folder in
        Dropbox's web view when it has exactly one (an album), else the store's app folder (a
        pack's albums are its folders)."""
        folders = delivery.get("folders") or []
        path = self.app_folder + (folders[0] if len(folders) == 1 else "")
        return DROPBOX_WEB_HOME + quote(path.strip("/"), safe="/")

    def offer_for(self, album_id: int | None, fmt: str) -> bool:
        """Whether the page offers Add to Dropbox (in ``fmt``) for one album or the pack: not
        while a delivery of it is moving, waiting for the buyer (its box has its own button) or
        done in that format (the done state says where it is)."""
        latest = self.latest_for(album_id)
        if latest is None:
            return True
        status = latest["status"]
        if status == "done":
            return bool(latest["format"] != fmt)
        return status in ("cancelled",)

    @property
    def account_label(self) -> str:
        """Whom the order's Dropbox belongs to, as the page shows it (e-mail masked)."""
        if self.connection is None:
            return ""
        if self.connection.account_email:
            return mask_email(self.connection.account_email)
        return self.connection.account_name or "your Dropbox account"

    @property
    def active_delivery_id(self) -> int | None:
        """The delivery a page without JavaScript keeps refreshing for, if any is under way."""
        return next((d["id"] for d in self.latest.values() if d["status"] in IN_PROGRESS_STATUSES), None)


def mask_email(email: str) -> str:
    """``a•••@example.com``: enough for the buyer to recognise, little for anyone else."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}•••{at}{domain}" if at else f"{email[:1]}•••"


def space_refusal_anchor(target: str) -> str:
    """The id of the paragraph that shows a space refusal for ``target`` on the order page."""
    return "dropbox-space-" + target.replace(":", "-")


def recent_space_refusal(order: Order) -> dict[str, Any] | None:
    if not has_request_context():
        return None
    refusal = session.get(SPACE_REFUSAL_KEY)
    if not isinstance(refusal, dict) or refusal.get("order_id") != order.id:
        return None
    if time.time() - float(refusal.get("at", 0)) > SPACE_REFUSAL_SHOWN_FOR:
        return None
    return {**refusal, "anchor": space_refusal_anchor(str(refusal.get("target", "")))}


@functools.cache
def _connection_and_latest_statement() -> Select[Any]:
    """The statement of :func:`connection_and_latest_deliveries` for the order ``:order_id``.
    Built once: building and caching a statement this size cost more than running it."""
    order_id: BindParameter[int] = bindparam("order_id")
    newest_per_target = select(func.max(Delivery.id)).where(Delivery.order_id == order_id).group_by(Delivery.target)
    return (
        select(DropboxConnection, Delivery)
        .select_from(Order)
        .outerjoin(DropboxConnection, DropboxConnection.order_id == Order.id)
        .outerjoin(Delivery, Delivery.id.in_(newest_per_target))
        .where(Order.id == order_id)
        .order_by(Delivery.id.desc())
        .options(joinedload(Delivery.files))
    )


def connection_and_latest_deliveries(order: Order) -> tuple[DropboxConnection | None, dict[str, dict[str, Any]]]:
    """The order's Dropbox connection and the progress of its newest delivery per target,
    read with every delivered file in one round trip (the order page's costliest part was
    its round trips to the database, not their rows)."""
    rows = db.session.execute(_connection_and_latest_statement(), {"order_id": order.id}).unique().all()
    connection = rows[0][0] if rows else None
    latest = {delivery.target: progress(delivery) for _, delivery in rows if delivery is not None}
    return connection, latest


def dropbox_state(order: Order) -> DropboxState:
    configured = bool(current_app.config.get("DROPBOX_APP_KEY") and current_app.config.get("DROPBOX_APP_SECRET"))
    connection, latest = connection_and_latest_deliveries(order)
    return DropboxState(configured=configured, connection=connection,
                        app_folder="Apps/" + current_app.config["DROPBOX_APP_FOLDER"], latest=latest,
                        space_refusal=recent_space_refusal(order))
