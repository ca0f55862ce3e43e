"""``flask mailing ...``: announce a pack to the list, import consented addresses."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from shop.admin import mailing as admin_mailing
from shop.email_address import EmailError, normalize_email
from shop.extensions import db
from shop.mailing import announcements
from shop.mailing.subscriptions import import_confirmed
from shop.models import Pack
from shop.queue import QueueUnavailable


@click.group("mailing")
def mailing_cli() -> None:
    """The "tell me about the next pack" list."""


@mailing_cli.command("announce")
@click.option("--pack", "slug", required=True, help="The pack's slug.")
@with_appcontext
def announce_command(slug: str) -> None:
    """Mail every confirmed subscriber about the pack, once (the worker sends it)."""
    pack = db.session.scalar(select(Pack).where(Pack.slug == slug))
    if pack is None:
        raise click.ClickException(f"no pack {slug!r}")
    try:
        announcement, created = admin_mailing.announce(pack, None, None)
    except QueueUnavailable as exc:
        raise click.ClickException(f"recorded, but the queue is down ({exc}); the worker's sweep sends it") from None
    progress = announcements.progress(announcement)
    if created:
        click.echo(f"announcing {slug} to {announcement.total} confirmed subscribers (the worker sends it)")
    else:
        click.echo(f"{slug} was announced already: {progress.sent} of {announcement.total} sent"
                   + ("; nothing more to send" if progress.done else "; the rest is queued again"))


@mailing_cli.command("import")
@click.argument("path", type=click.File("r"))
@with_appcontext
def import_command(path: click.utils.LazyFile) -> None:
    """Add addresses (one per line) whose consent was collected elsewhere, as confirmed.
    Addresses already on file, above all unsubscribed ones, are left as they are."""
    addresses, bad = [], 0
    for line in path:
        if not line.strip():
            continue
        try:
            addresses.append(normalize_email(line.strip()))
        except EmailError:
            bad += 1
    added, left = import_confirmed(addresses, f"import:{getattr(path, 'name', 'stdin')}")
    click.echo(f"{added} added, {left} already on file (unchanged), {bad} not addresses")
