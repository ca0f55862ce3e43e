"""Fixtures for download codes: a real SMTP server the app mails through."""

from __future__ import annotations

from tests.admin.conftest import admin_client, fresh_login_per_request, operator  # noqa: F401 (fixtures)


