"""Operators: the people who run the store. What they did is in the audit log, whose rows are
:class:`shop.audit_log.AuditEvent` (re-exported here for the console's modules)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.audit_log import AuditEvent
from shop.columns import UTCDateTime
from shop.crypto import ENCRYPTED
from shop.extensions import Model
from shop.models import utcnow

__all__ = ["AuditEvent", "Operator"]


class Operator(Model):
    """One person allowed into ``/admin``.

    ``email`` is stored lower-cased (a check constraint says so), so the unique constraint
    on it is case-insensitive even for a row written by other code. The TOTP secret is
    Fernet-encrypted with the store's token keys (:func:`shop.crypto.get_token_box`).
    """

    __tablename__ = "operators"
    __table_args__ = (CheckConstraint("email = lower(email)", name="ck_operators_email_lower"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret_enc: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    # The last TOTP time step accepted: a code is good once (no replay within its window).
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(default=False)
    # Part of every session's id (:meth:`get_id`): raising it ends every session of this
    # operator, copied cookies included (logout, disable, a new password or TOTP).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.disabled

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """``"<id>.<session_version>"``: what the session cookie carries (see :mod:`shop.admin.sessions`)."""
        return f"{self.id}.{self.session_version}"

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret_enc is not None
