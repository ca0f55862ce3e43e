"""The order page's Dropbox panel: the connected account and the latest delivery per target."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from shop.dropbox.connections import connection_for
from shop.dropbox.deliveries import progress
from shop.dropbox.models import IN_PROGRESS_STATUSES, Delivery, DropboxConnection, delivery_target
from shop.extensions import db
from shop.models import Order


@dataclass
class DropboxState:
    configured: bool
    connection: DropboxConnection | None
    app_folder: str
    # The newest delivery per target (see delivery_target), as progress dictionaries.
    latest: dict[str, dict] = field(default_factory=dict)

    def latest_for(self, album_id: int | None) -> dict | None:
        """The newest delivery of one album, or of the pack when ``album_id`` is None."""
        return self.latest.get(delivery_target(album_id))

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


def dropbox_state(order: Order) -> DropboxState:
    configured = bool(current_app.config.get("DROPBOX_APP_KEY") and current_app.config.get("DROPBOX_APP_SECRET"))
    connection = connection_for(order)
    latest: dict[str, dict] = {}
    for delivery in db.session.scalars(
        select(Delivery).where(Delivery.order_id == order.id).order_by(Delivery.id.desc())
    ):
        latest.setdefault(delivery.target, progress(delivery))
    return DropboxState(configured=configured, connection=connection,
                        app_folder="Apps/" + current_app.config["DROPBOX_APP_FOLDER"], latest=latest)
