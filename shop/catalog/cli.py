"""``flask catalog ...``: operator commands for the catalog.

``import`` reads album folders into a pack, ``demo`` builds the demo pack through the same
importer, ``list`` shows every pack. Errors exit non-zero with a message naming the file
and leave the database as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from shop.catalog.importer import CatalogImportError, ImportReport, import_albums
from shop.catalog.pack_settings import InvalidPackSetting, PackSettings, parse_price, parse_starts
from shop.extensions import db
from shop.formatting import filesize, money
from shop.models import FORMATS, Album, Pack, Track, TrackFile, utcnow

catalog_cli = AppGroup("catalog", help="Import albums, create the demo pack, list packs.")

T = TypeVar("T")


def _parsed(parse: Callable[[str], T]) -> Callable[[click.Context, click.Parameter, str | None], T | None]:
    """A click callback running one of :mod:`shop.catalog.pack_settings`' parsers."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> T | None:
        if value is None:
            return None
        try:
            return parse(value)
        except InvalidPackSetting as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return callback


@catalog_cli.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--pack", "slug", required=True, help="Slug of the pack to add to (created when new).")
@click.option("--title", help="Title of a new pack. Default: from the slug.")
@click.option("--blurb", help="Short description of a new pack.")
@click.option(
    "--starts", callback=_parsed(parse_starts), help="Start of sale, ISO 8601 (UTC if no zone). Default: now."
)
@click.option("--days", type=click.IntRange(1, 366), help="Days on sale. Default: 14.")
@click.option("--min", "min_price", callback=_parsed(parse_price), help="Minimum price, e.g. 1.00. Default: 1.00.")
@click.option("--suggested", callback=_parsed(parse_price), help="Suggested price, e.g. 10.00. Default: 10.00.")
@click.option("--currency", help="ISO 4217 code of a new pack. Default: USD.")
def import_command(
    directory: Path,
    slug: str,
    title: str | None,
    blurb: str | None,
    starts: datetime | None,
    days: int | None,
    min_price: int | None,
    suggested: int | None,
    currency: str | None,
) -> None:
    """Import the album folders in DIRECTORY into a pack.

    DIRECTORY holds one folder per album (or is itself one album). Each album folder holds
    MP3, FLAC and/or WAV files, tagged, and a cover (cover.jpg/png or folder.jpg/png).
    Importing the same folder again changes nothing. Pack settings only apply when the
    pack is created.
    """
    settings = PackSettings(
        slug=slug,
        title=title,
        blurb=blurb,
        starts_at=starts,
        days=days,
        min_price_cents=min_price,
        suggested_price_cents=suggested,
        currency=currency.upper() if currency else None,
    )
    try:
        report = import_albums(directory, settings, echo=click.echo)
    except CatalogImportError as exc:
        raise click.ClickException(f"import refused, nothing was changed.\n{exc}") from None
    _print_report(report)


@catalog_cli.command("demo")
@click.option("--slug", default="demo-pack", show_default=True, help="Slug of the demo pack.")
def demo_command(slug: str) -> None:
    """Create the demo pack: four synthesised albums (rock, electronic, indie, comedy) in
    MP3, FLAC and WAV with cover art, imported like any other folder. Running it again
    changes nothing."""
    # Imported here, not at the top: numpy and soundfile would otherwise load with every
    # app start, web workers included, for a command run once per machine.
    from shop.catalog.demo import create_demo_pack

    try:
        report = create_demo_pack(slug, echo=click.echo)
    except CatalogImportError as exc:
        raise click.ClickException(f"demo refused, nothing was changed.\n{exc}") from None
    _print_report(report)


def _print_report(report: ImportReport) -> None:
    for note in report.notes:
        click.echo(f"note: {note}")
    for album in report.albums:
        detail = (
            f"{album.tracks_added} tracks, {album.files_added} files added"
            if album.status != "unchanged"
            else f"{album.tracks_unchanged} tracks, {album.files_unchanged} files already there"
        )
        click.echo(f"  {album.status:<9}  {album.label} ({detail})")
    click.echo(report.summary())


@catalog_cli.command("list")
def list_command() -> None:
    """List packs: on-sale window and status, albums, tracks, size per format."""
    packs = db.session.scalars(select(Pack).order_by(Pack.starts_at, Pack.slug)).all()
    if not packs:
        click.echo("No packs yet. Add one with `flask catalog import DIR --pack SLUG` or `flask catalog demo`.")
        return

    album_counts = select(Album.pack_id, func.count(Album.id)).group_by(Album.pack_id)
    track_counts = (
        select(Album.pack_id, func.count(Track.id)).join(Track, Track.album_id == Album.id).group_by(Album.pack_id)
    )
    albums = dict(db.session.execute(album_counts).tuples().all())
    tracks = dict(db.session.execute(track_counts).tuples().all())
    sizes: dict[int, dict[str, int]] = {}
    for pack_id, fmt, size in db.session.execute(
        select(Album.pack_id, TrackFile.format, func.sum(TrackFile.size))
        .join(Track, Track.album_id == Album.id)
        .join(TrackFile, TrackFile.track_id == Track.id)
        .group_by(Album.pack_id, TrackFile.format)
    ).tuples():
        sizes.setdefault(pack_id, {})[fmt] = int(size or 0)

    now = utcnow()
    for pack in packs:
        status = "upcoming" if now < pack.starts_at else ("on sale" if pack.is_on_sale(now) else "ended")
        per_format = sizes.get(pack.id, {})
        formats = ", ".join(f"{fmt} {filesize(per_format[fmt])}" for fmt in FORMATS if fmt in per_format)
        click.echo(f"{pack.slug}  {pack.title}")
        click.echo(
            f"    {status:<8}  {pack.starts_at:%Y-%m-%d %H:%M} to {pack.ends_at:%Y-%m-%d %H:%M} UTC, "
            f"from {money(pack.min_price_cents, pack.currency)} "
            f"(suggested {money(pack.suggested_price_cents, pack.currency)})"
        )
        click.echo(
            f"    {_plural(albums.get(pack.id, 0), 'album')}, {_plural(tracks.get(pack.id, 0), 'track')}"
            + (f"; {formats}" if formats else "; no files")
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
