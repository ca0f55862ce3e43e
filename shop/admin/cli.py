"""``flask operators ...``: create, list and disable operators; set passwords; turn TOTP on and off;
unlock an account slowed down by failed logins. Each change is written to the audit log."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from shop.admin import audit, logins, operators
from shop.crypto import TokenKeyError
from shop.email_address import EmailError
from shop.extensions import db


def _audit(action: str, email: str, details: dict[str, object] | None = None) -> None:
    """An audit row for what a command just changed (its own commit: the change is already in)."""
    audit.record_command(action, email, dict(details or {}))
    db.session.commit()


def _read_password() -> str:
    """From a hidden prompt typed twice, or the first line of stdin when it is not a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group("operators")
def operators_cli() -> None:
    """Operators of the console at /admin."""


@operators_cli.command("create")
@click.argument("email")
@with_appcontext
def create_command(email: str) -> None:
    """Create an operator; the password is asked twice (or read from stdin)."""
    password = _read_password()
    try:
        operator = operators.create(email, password)
    except (operators.OperatorError, EmailError) as exc:
        raise click.ClickException(str(exc)) from None
    _audit("operator.create", operator.email)
    click.echo(f"operator {operator.email} created")


@operators_cli.command("password")
@click.argument("email")
@with_appcontext
def password_command(email: str) -> None:
    """Give an operator a new password (asked twice, or read from stdin); their sessions end."""
    password = _read_password()
    try:
        operator = operators.set_password(email, password)
    except operators.OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    _audit("operator.password", operator.email)
    click.echo(f"password changed for {operator.email}; their console sessions have ended")


@operators_cli.command("totp")
@click.argument("email")
@click.option("--disable", is_flag=True, help="Turn TOTP off for this operator.")
@with_appcontext
def totp_command(email: str, disable: bool) -> None:
    """Turn on TOTP (prints the otpauth:// URI and the secret, once) or, with --disable, off."""
    try:
        if disable:
            operator = operators.disable_totp(email)
            _audit("operator.totp.disable", operator.email)
            click.echo(f"TOTP disabled for {operator.email}")
            return
        secret, uri = operators.enable_totp(email)
    except (operators.OperatorError, TokenKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    _audit("operator.totp.enable", operators.normalize(email))
    click.echo("Add this to an authenticator app (shown only now):")
    click.echo(uri)
    click.echo(f"secret: {secret}")


@operators_cli.command("list")
@with_appcontext
def list_command() -> None:
    """Every operator, with TOTP and disabled state and the last login."""
    rows = operators.all_operators()
    if not rows:
        click.echo("no operators yet: flask operators create EMAIL")
    for op in rows:
        last = op.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if op.last_login_at else "never"
        flags = ", ".join(f for f, on in (("totp", op.totp_enabled), ("disabled", op.disabled)) if on) or "-"
        click.echo(f"{op.email}\t{flags}\tlast login: {last}")


@operators_cli.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable the operator again instead.")
@with_appcontext
def disable_command(email: str, enable: bool) -> None:
    """Disable an operator: their sessions stop at the next request."""
    try:
        operator = operators.set_disabled(email, disabled=not enable)
    except operators.OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    _audit("operator.enable" if enable else "operator.disable", operator.email)
    click.echo(f"operator {operator.email} {'enabled' if enable else 'disabled'}")


@operators_cli.command("unlock")
@click.argument("email")
@with_appcontext
def unlock_command(email: str) -> None:
    """Forget the failed logins counted for EMAIL (from every client), so nothing makes it wait."""
    address = email.strip().lower()
    dropped = logins.unlock(address)
    _audit("operator.unlock", address, {"failures_dropped": dropped})
    click.echo(f"{dropped} failed login(s) forgotten for {address}; it can log in right away")
