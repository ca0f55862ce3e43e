"""``flask catalog ...``: operator commands for the catalog.

``import`` reads album folders of masters into a pack and has their buyer files encoded
(by the worker, or here with ``--sync``), ``encode`` encodes what waits (and retries what
failed), ``status`` shows each pack's encoding progress and failures, ``demo`` builds the
demo pack through the same importer, ``list`` shows every pack. Errors exit non-zero with
a message naming the file and leave the database as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from shop.accounting import NOTHING, PackMoney, packs_money
from shop.catalog.encode_rows import ENCODE_FORMATS
from shop.catalog.encode_sync import default_workers, encode_now
from shop.catalog.importer import CatalogImportError, ImportReport, import_albums
from shop.catalog.jobs import enqueue_tracks, waiting_track_ids
from shop.catalog.pack_settings import DEFAULT_CURRENCY, InvalidPackSetting, PackSettings, parse_price, parse_starts
from shop.extensions import db
from shop.formats import FORMATS_BY_ID
from shop.formatting import filesize, money
from shop.models import FORMATS, PREVIEW, Album, Encode, EncodeStatus, Pack, Track, TrackFile, utcnow
from shop.text_safety import for_terminal

catalog_cli = AppGroup("catalog", help="Import albums, encode them, create the demo pack, list packs.")

T = TypeVar("T")


def _echo(text: str) -> None:
    """Every line this group prints holds names from files' tags and names: escaped, so a
    tag cannot drive the operator's terminal (escape sequences, bidi overrides)."""
    click.echo(for_terminal(text, lines=True))


def _refused(what: str, exc: Exception) -> click.ClickException:
    return click.ClickException(for_terminal(f"{what} refused, nothing was changed.\n{exc}", lines=True))


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
@click.option("--min", "min_price", help="Minimum price in the pack's currency, e.g. 1.00 (JPY: 500). "
              "Default: 1.00. At least Stripe's minimum charge in that currency.")
@click.option("--suggested", help="Suggested price, e.g. 10.00. Default: 10.00.")
@click.option("--currency", help="ISO 4217 code of a new pack (one Stripe can charge in). Default: USD.")
@click.option("--sync", is_flag=True, help="Encode the buyer files here and now instead of by the worker.")
@click.option("--workers", type=click.IntRange(1, 64), help="Parallel encoding processes with --sync.")
def import_command(
    directory: Path,
    slug: str,
    title: str | None,
    blurb: str | None,
    starts: datetime | None,
    days: int | None,
    min_price: str | None,
    suggested: str | None,
    currency: str | None,
    sync: bool,
    workers: int | None,
) -> None:
    """Import the album folders of masters in DIRECTORY into a pack.

    DIRECTORY holds one folder per album (or is itself one album). Each album folder holds
    one lossless master per track (FLAC, WAV or AIFF; 16 or 24 bit; 44.1 to 96 kHz),
    tagged, and a cover (cover.jpg/png or folder.jpg/png). Lossy files are refused. Every
    buyer format and a preview are encoded from the masters, by `flask worker` (queue
    `encoding`) or here with --sync; until then the pack is not on sale. Importing the
    same folder again changes nothing. Pack settings only apply when the pack is created.
    """
    code = currency.upper() if currency else None
    # Prices are read in the pack's currency (decimals differ), so after --currency is known.
    prices = {name: _price(value, code, f"--{name}") for name, value in (("min", min_price), ("suggested", suggested))}
    settings = PackSettings(
        slug=slug,
        title=title,
        blurb=blurb,
        starts_at=starts,
        days=days,
        min_price_cents=prices["min"],
        suggested_price_cents=prices["suggested"],
        currency=code,
    )
    try:
        report = import_albums(directory, settings, echo=_echo)
    except CatalogImportError as exc:
        raise _refused("import", exc) from None
    _print_report(report)
    _encode_or_enqueue(report.encode_track_ids, sync, workers)


def _price(value: str | None, currency: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_price(value, currency or DEFAULT_CURRENCY)
    except InvalidPackSetting as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _encode_or_enqueue(track_ids: list[int], sync: bool, workers: int | None) -> None:
    if not track_ids:
        return
    if sync:
        _encode_here(track_ids, workers)
        return
    result = enqueue_tracks(track_ids)
    if result.unavailable is not None:
        _echo(
            f"The queue is not available ({result.unavailable}): {len(track_ids)} track(s) wait to be encoded. "
            "Start `flask worker` (it picks them up) or run `flask catalog encode --sync`."
        )
    else:
        _echo(f"Queued {len(track_ids)} track(s) for encoding (queue 'encoding'); "
                   "follow them with `flask catalog status`.")


def _encode_here(track_ids: list[int], workers: int | None) -> None:
    workers = workers or default_workers()
    _echo(f"Encoding {len(track_ids)} track(s) in {min(workers, len(track_ids))} process(es) ...")
    summary = encode_now(track_ids, workers=workers, echo=_echo)
    _echo(f"Encoded {summary.files} file(s) of {summary.tracks} track(s); {len(summary.failures)} failed.")
    if summary.failures:
        raise click.ClickException(for_terminal("some encodes failed:\n" + "\n".join(summary.failures), lines=True))


@catalog_cli.command("encode")
@click.option("--pack", "slug", help="Only this pack's tracks.")
@click.option("--sync", is_flag=True, help="Encode here and now instead of queueing jobs for the worker.")
@click.option("--workers", type=click.IntRange(1, 64), help="Parallel encoding processes with --sync.")
def encode_command(slug: str | None, sync: bool, workers: int | None) -> None:
    """Encode every buyer file and preview still missing: pending, stalled and failed ones
    (a failed encode is tried again). Re-running changes nothing once all are done."""
    pack_id = None
    if slug is not None:
        pack_id = db.session.scalar(select(Pack.id).where(Pack.slug == slug))
        if pack_id is None:
            raise click.ClickException(f"no pack {slug!r}")
    track_ids = waiting_track_ids(pack_id=pack_id, include_failed=True)
    if not track_ids:
        _echo("Nothing to encode: every track's files are done.")
        return
    _encode_or_enqueue(track_ids, sync, workers)


@catalog_cli.command("status")
@click.option("--pack", "slug", help="Only this pack.")
def status_command(slug: str | None) -> None:
    """Encoding progress per pack: tracks done per format, what runs, and failures with the reason."""
    query = select(Pack).order_by(Pack.starts_at, Pack.slug)
    if slug is not None:
        query = query.where(Pack.slug == slug)
    packs = db.session.scalars(query).all()
    if not packs:
        raise click.ClickException(f"no pack {slug!r}" if slug else "No packs yet.")
    for pack in packs:
        rows = db.session.execute(
            select(Encode.format, Encode.status, func.count(Encode.id))
            .join(Track, Track.id == Encode.track_id).join(Album, Album.id == Track.album_id)
            .where(Album.pack_id == pack.id)
            .group_by(Encode.format, Encode.status)
        ).tuples().all()
        tracks = db.session.scalar(
            select(func.count(Track.id)).join(Album, Album.id == Track.album_id).where(Album.pack_id == pack.id)
        ) or 0
        counts: dict[str, dict[str, int]] = {}
        for fmt, status, count in rows:
            counts.setdefault(fmt, {})[status] = int(count)
        waiting = sum(n for per in counts.values() for st, n in per.items() if st != EncodeStatus.DONE.value)
        if not counts:
            state = "no encodes (files imported as they were)"
        elif waiting:
            state = "being prepared: not on sale until every file is encoded"
        else:
            state = "all files encoded"
        _echo(f"{pack.slug}  {pack.title}: {_plural(tracks, 'track')}, {state}")
        for fmt in ENCODE_FORMATS:
            per = counts.get(fmt)
            if not per:
                continue
            label = "preview" if fmt == PREVIEW else FORMATS_BY_ID[fmt].label
            done = per.get(EncodeStatus.DONE.value, 0)
            extra = ", ".join(f"{per[st]} {st}" for st in ("running", "pending", "failed") if per.get(st))
            _echo(f"    {label:<8} {done}/{sum(per.values())} done" + (f" ({extra})" if extra else ""))
        failures = db.session.execute(
            select(Track.number, Track.title, Album.title, Encode.format, Encode.error, Encode.attempts)
            .join(Track, Track.id == Encode.track_id).join(Album, Album.id == Track.album_id)
            .where(Album.pack_id == pack.id, Encode.status == EncodeStatus.FAILED.value)
            .order_by(Album.position, Track.number, Encode.format)
        ).tuples().all()
        for number, title, album_title, fmt, error, attempts in failures:
            _echo(f"    FAILED {album_title} #{number} {title!r} {fmt} (attempt {attempts}): {error}")
        if failures:
            _echo("    Fix the master and re-import it, or retry with `flask catalog encode`.")


@catalog_cli.command("demo")
@click.option("--slug", default="demo-pack", show_default=True, help="Slug of the demo pack.")
def demo_command(slug: str) -> None:
    """Create the demo pack: four synthesised albums (rock, electronic, indie, comedy) as
    FLAC masters with cover art, imported like any other folder and encoded here (tracks in
    parallel processes) into every buyer format. Running it again changes nothing."""
    # Imported here, not at the top: numpy and soundfile would otherwise load with every
    # app start, web workers included, for a command run once per machine.
    from shop.catalog.demo import create_demo_pack

    try:
        report = create_demo_pack(slug, echo=_echo)
    except CatalogImportError as exc:
        raise _refused("demo", exc) from None
    _print_report(report)


def _print_report(report: ImportReport) -> None:
    for note in report.notes:
        _echo(f"note: {note}")
    for album in report.albums:
        detail = (
            f"{album.tracks_added} tracks, {album.masters_added} masters added"
            if album.status != "unchanged"
            else f"{album.tracks_unchanged} tracks, {album.masters_unchanged} masters already there"
        )
        _echo(f"  {album.status:<9}  {album.label} ({detail})")
    _echo(report.summary())


@catalog_cli.command("list")
def list_command() -> None:
    """List packs: on-sale window and status, albums, tracks, size per format, and money
    (paid, refunded, disputed, net and average as :mod:`shop.accounting` defines them)."""
    packs = db.session.scalars(select(Pack).order_by(Pack.starts_at, Pack.slug)).all()
    if not packs:
        _echo("No packs yet. Add one with `flask catalog import DIR --pack SLUG` or `flask catalog demo`.")
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

    money_by_pack = packs_money()
    now = utcnow()
    for pack in packs:
        if pack.has_ended(now):
            status = "ended"
        elif pack.is_preparing():
            status = "preparing"
        else:
            status = "upcoming" if now < pack.starts_at else "on sale"
        per_format = sizes.get(pack.id, {})
        formats = ", ".join(
            f"{FORMATS_BY_ID[fmt].label} {filesize(per_format[fmt])}" for fmt in FORMATS if fmt in per_format
        )
        _echo(f"{pack.slug}  {pack.title}")
        _echo(
            f"    {status:<9} {pack.starts_at:%Y-%m-%d %H:%M} to {pack.ends_at:%Y-%m-%d %H:%M} UTC, "
            f"from {money(pack.min_price_cents, pack.currency)} "
            f"(suggested {money(pack.suggested_price_cents, pack.currency)})"
        )
        _echo(
            f"    {_plural(albums.get(pack.id, 0), 'album')}, {_plural(tracks.get(pack.id, 0), 'track')}"
            + (f"; {formats}" if formats else "; no files")
        )
        click.echo(f"    {_money_line(money_by_pack.get(pack.id, NOTHING), pack.currency)}")


def _money_line(figures: PackMoney, currency: str) -> str:
    """``6 orders: paid $60.83, refunded $6.00, disputed $17.49 (lost $9.99, at risk $7.50 in
    1 open, 1 won), net $37.34, average $12.45``."""
    disputes = (f"lost {money(figures.disputed_lost_cents, currency)}, at risk "
                f"{money(figures.disputed_open_cents, currency)} in {figures.disputes_open} open, "
                f"{figures.disputes_won} won")
    return (f"{_plural(figures.sales, 'order')}: paid {money(figures.gross_cents, currency)}, "
            f"refunded {money(figures.refunded_cents, currency)}, "
            f"disputed {money(figures.disputed_cents, currency)} ({disputes}), "
            f"net {money(figures.net_cents, currency)}, average {money(figures.average_cents, currency)}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
