"""``flask dropbox ...``: seed the store's Dropbox, link it, rotate token keys, recover."""

from __future__ import annotations

import sys

import click
import dropbox
from flask.cli import AppGroup

from shop.crypto import get_token_box, rotate_keys_command
from shop.dropbox.client import (
    STORE_SCOPES,
    DropboxNotConfigured,
    app_credentials,
    http_session,
    make_client,
    store_refresh_token,
    web_url,
)
from shop.dropbox.models import StoreDropboxAccount
from shop.dropbox.seed import albums_in_scope, run_seed
from shop.extensions import db

dropbox_cli = AppGroup("dropbox", help="The store's Dropbox: seed files, link the account, rotate keys.")


@dropbox_cli.command("seed")
@click.option("--album", "album_id", type=int, help="Only this album id.")
@click.option("--pack", "pack_slug", help="Only the albums of this pack.")
@click.option("--dry-run", is_flag=True, help="Say what would be uploaded and minted; change nothing.")
def seed_command(album_id: int | None, pack_slug: str | None, dry_run: bool) -> None:
    """Upload new track files to the store's Dropbox and record copy references."""
    sys.exit(run_seed_cli(album_id, pack_slug, dry_run))


def run_seed_cli(album_id: int | None, pack_slug: str | None, dry_run: bool) -> int:
    """The seed with a progress bar and a summary; returns the exit status."""
    albums = albums_in_scope(album_id, pack_slug)
    if not albums:
        click.echo("No albums match.", err=True)
        return 1
    total = sum(len(t.files) for a in albums for t in a.tracks)
    try:
        with click.progressbar(length=total, label="Seeding", file=sys.stderr, show_pos=True) as bar:
            summary = run_seed(albums, dry_run=dry_run, on_file=lambda: bar.update(1))
    except DropboxNotConfigured as exc:
        click.echo(f"Error: {exc}", err=True)
        return 2
    mib = summary.uploaded_bytes / (1024 * 1024)
    prefix = "Dry run: would have " if dry_run else ""
    click.echo(
        f"{prefix}uploaded {summary.uploaded} files ({mib:.1f} MiB), skipped {summary.skipped} already there, "
        f"minted {summary.references_minted} references (kept {summary.references_kept}), "
        f"failed {summary.failed}."
    )
    for failure in summary.failures:
        click.echo(f"  failed: {failure}", err=True)
    return 1 if summary.failed else 0


@dropbox_cli.command("link-store")
@click.option("--code", help="The code Dropbox showed (else you are asked for it).")
def link_store(code: str | None) -> None:
    """Link the store's own Dropbox account (no-redirect OAuth flow)."""
    try:
        key, secret = app_credentials()
    except DropboxNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    flow = dropbox.DropboxOAuth2FlowNoRedirect(key, consumer_secret=secret, token_access_type="offline",
                                               scope=STORE_SCOPES)
    flow.requests_session = http_session()
    url = web_url(flow.start())
    if not code:
        click.echo(f"1. Open {url}\n2. Sign in with the store's Dropbox account and allow access.")
        code = click.prompt("3. Paste the code here").strip()
    try:
        result = flow.finish(code)
    except Exception as exc:  # the SDK raises requests.HTTPError for a bad code
        raise click.ClickException(f"Dropbox did not accept that code ({type(exc).__name__}).") from None
    save_store_account(result.account_id, result.refresh_token)
    click.echo(f"Linked the store's Dropbox account {result.account_id}.")


def save_store_account(account_id: str, refresh_token: str) -> None:
    account = db.session.get(StoreDropboxAccount, 1) or StoreDropboxAccount(id=1)
    account.account_id = account_id
    account.refresh_token_enc = get_token_box().encrypt(refresh_token)
    db.session.add(account)
    db.session.commit()


@dropbox_cli.command("whoami")
def whoami() -> None:
    """Show which Dropbox account the store is linked to."""
    try:
        account = make_client(store_refresh_token()).users_get_current_account()
    except DropboxNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{account.email} ({account.account_id})")


# The key rotation covers more than Dropbox (operators' TOTP secrets too): ``flask rotate-keys``;
# this is the name it had first.
dropbox_cli.add_command(rotate_keys_command)


@dropbox_cli.command("requeue")
def requeue() -> None:
    """Put deliveries that wait (Redis was down) or lost their worker back on the queue."""
    from shop.dropbox.deliveries import requeue_waiting

    click.echo(f"Re-enqueued {requeue_waiting()} deliveries.")
