"""``flask operators ...``."""

from __future__ import annotations

import pytest

from shop.admin.models import Operator
from shop.extensions import db

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def test_create_list_disable_and_totp(app, runner):
    result = runner.invoke(args=["operators", "create", "New.Op@Example.com"], input="a long enough pass\n")
    assert result.exit_code == 0, result.output
    assert "new.op@example.com created" in result.output
    assert "a long enough pass" not in result.output
    operator = db.session.scalar(db.select(Operator))
    assert operator.password_hash.startswith("scrypt:")

    again = runner.invoke(args=["operators", "create", "NEW.OP@example.com"], input="a long enough pass\n")
    assert again.exit_code != 0 and "already exists" in again.output

    short = runner.invoke(args=["operators", "create", "b@example.com"], input="short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output

    totp = runner.invoke(args=["operators", "totp", "new.op@example.com"])
    assert totp.exit_code == 0 and "otpauth://totp/" in totp.output and "secret: " in totp.output
    listed = runner.invoke(args=["operators", "list"])
    assert "new.op@example.com\ttotp\t" in listed.output
    secret = totp.output.split("secret: ")[1].strip()
    db.session.expire_all()
    assert secret not in (db.session.scalar(db.select(Operator)).totp_secret_enc or "")

    assert runner.invoke(args=["operators", "totp", "new.op@example.com", "--disable"]).exit_code == 0
    assert runner.invoke(args=["operators", "disable", "new.op@example.com"]).exit_code == 0
    assert "disabled" in runner.invoke(args=["operators", "list"]).output
    missing = runner.invoke(args=["operators", "disable", "nobody@example.com"])
    assert missing.exit_code != 0 and "no operator" in missing.output


def test_totp_in_production_needs_the_token_keys(app, runner):
    """A key kept in one host's instance folder would lock the operator out on every other
    host: production refuses to store a TOTP secret without SHOP_TOKEN_KEYS."""
    assert runner.invoke(args=["operators", "create", "ops@example.com"], input="a long enough pass\n").exit_code == 0
    app.config.update(ENV="production", TOKEN_KEYS=None)
    app.extensions.pop("shop.token_box", None)
    refused = runner.invoke(args=["operators", "totp", "ops@example.com"])
    assert refused.exit_code != 0 and "SHOP_TOKEN_KEYS is not set" in refused.output
    db.session.expire_all()
    assert db.session.scalar(db.select(Operator)).totp_secret_enc is None
