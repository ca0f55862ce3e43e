"""``flask artists ...``: list the artists (with fresh statement links), mint one link, mail
the month's statements."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from shop.artists import Artist
from shop.extensions import db
from shop.formatting import money
from shop.ledger.statements import balances, month_bounds
from shop.statements import links
from shop.statements.mailing import send_statements
from shop.urls import absolute_url


@click.group("artists")
def artists_cli() -> None:
    """Artists: statement links and the monthly statement mail."""


def fresh_links(artists: list[Artist]) -> dict[int, str]:
    """A new statement link (absolute URL) for each of ``artists``, committed."""
    tokens = {artist.id: links.mint(artist) for artist in artists}
    db.session.commit()
    return {artist_id: absolute_url("statements.show", token=token) for artist_id, token in tokens.items()}


@artists_cli.command("list")
@click.option("--links", "with_links", is_flag=True, help="Mint and print a fresh statement link for each artist.")
@with_appcontext
def list_command(with_links: bool) -> None:
    """Every artist: id, name, e-mail, what they are owed now per currency."""
    artists = list(db.session.scalars(select(Artist).order_by(Artist.id)))
    owed = balances()
    urls = fresh_links(artists) if with_links else {}
    for artist in artists:
        balance = ", ".join(money(cents, currency) for (artist_id, currency), cents in sorted(owed.items())
                            if artist_id == artist.id) or "nothing owed"
        line = f"{artist.id}\t{artist.name}\t{artist.email or '(no e-mail)'}\t{balance}"
        if artist.same_as_id:
            line += f"\t(possibly the same as #{artist.same_as_id})"
        click.echo(line)
        if artist.id in urls:
            click.echo(f"\tstatement link: {urls[artist.id]}")
    if not artists:
        click.echo("No artists yet: import a pack first.")


@artists_cli.command("link")
@click.argument("artist_id", type=int)
@with_appcontext
def link_command(artist_id: int) -> None:
    """Mint a new statement link for one artist and print it (it is shown only this once)."""
    artist = db.session.get(Artist, artist_id)
    if artist is None:
        raise click.ClickException(f"no artist #{artist_id} (see `flask artists list`)")
    click.echo(fresh_links([artist])[artist.id])


def _month(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        month_bounds(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month: write it as YYYY-MM, e.g. 2026-11") from None
    return value


@artists_cli.command("send-statements")
@click.option("--month", required=True, callback=_month, help="The month (YYYY-MM, UTC) to mail statements for.")
@with_appcontext
def send_statements_command(month: str) -> None:
    """Mail each artist with an e-mail and a balance or sales in MONTH their statement and a
    fresh link, once per artist and month (a second run sends nothing)."""
    report = send_statements(month)
    for label in report.sent:
        click.echo(f"sent: {label}")
    for label in report.no_email:
        click.echo(f"no e-mail address, not sent: {label}")
    for label in report.in_progress:
        click.echo(f"being sent by another run (or one killed in the last few minutes; run again later): {label}")
    for label in report.failed:
        click.echo(f"mail refused, not sent (run again to retry): {label}")
    click.echo(f"{month}: {len(report.sent)} sent, {len(report.already_sent)} sent before, "
               f"{len(report.no_email)} without e-mail, {len(report.failed)} failed")
    if report.failed:
        raise SystemExit(1)
