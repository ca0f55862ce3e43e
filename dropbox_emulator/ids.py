"""Identifiers and timestamps in the exact formats the SDK's validators accept."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _b64url(nbytes: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")


def new_account_id() -> str:
    """Return ``dbid:`` plus 35 base64url characters (40 in all, as ``AccountId`` demands)."""
    return "dbid:" + _b64url(27)[:35]


def new_file_id() -> str:
    """Return ``id:`` plus 22 base64url characters, like real file and folder ids."""
    return "id:" + _b64url(16)


def new_rev(sequence: int) -> str:
    """Return a lowercase-hex rev of at least 9 characters, increasing with ``sequence``."""
    return f"{sequence:012x}{secrets.token_hex(5)}"


def new_access_token() -> str:
    return "sl." + _b64url(48)


def new_refresh_token() -> str:
    return _b64url(48)


def new_code() -> str:
    return _b64url(32)


def new_session_id() -> str:
    return "pid_upload_session:" + _b64url(24)


def new_copy_reference() -> str:
    return _b64url(18)


def new_job_id() -> str:
    return "dbjid:" + _b64url(36)


def new_request_id() -> str:
    return secrets.token_hex(16)


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format as ``%Y-%m-%dT%H:%M:%SZ`` in UTC; no fraction, no offset."""
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Parse a ``DropboxTimestamp``; raises :class:`ValueError` on any other form."""
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
