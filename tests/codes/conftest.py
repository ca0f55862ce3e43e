"""Fixtures for download codes: a real SMTP server the app mails through."""

from __future__ import annotations

import pytest

from tests.admin.conftest import admin_client, fresh_login_per_request, operator  # noqa: F401 (fixtures)
from tests.smtp import running_smtp_server


@pytest.fixture
def inbox(app):
    with running_smtp_server() as (url, received):
        app.config["MAIL_URL"] = url
        yield received
