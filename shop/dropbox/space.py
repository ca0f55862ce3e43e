"""Does it fit? The buyer's free Dropbox space against what a delivery still has to copy.

Asked before a delivery is enqueued and again before a retry (:func:`space_verdict`, from
:mod:`shop.dropbox.delivery_requests` and the retry view).
What a delivery needs is the size of its files that are not delivered yet; only when that
does not fit are the buyer's album folders listed (one ``list_folder`` per album), so that
files already there with our content hash do not count twice. A check that cannot be made
(Dropbox unreachable, token revoked) never blocks: the job finds out for itself and parks
the delivery as "needs space" or "needs reconnect".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dropbox
import requests
from dropbox import files as dbx_files
from dropbox.exceptions import DropboxException

from shop.catalog.layout import format_label, track_entries
from shop.dropbox import connections
from shop.dropbox.client import buyer_client, held_token
from shop.dropbox.deliveries import target_albums
from shop.dropbox.models import Delivery, FileStatus
from shop.dropbox.paths import buyer_folder
from shop.formatting import filesize
from shop.models import FORMATS, Album, Order, TrackFile

log = logging.getLogger(__name__)

# A space check runs inside the buyer's click: it must not hold the request for long.
SPACE_CHECK_TIMEOUT = 10.0


@dataclass(frozen=True)
class SpaceUsage:
    """What the buyer may still store: ``allocated - used``, capped by a team member limit."""

    used: int
    allocated: int

    @property
    def free(self) -> int:
        return max(0, self.allocated - self.used)


@dataclass(frozen=True)
class Wanted:
    """One file a delivery still has to put in the buyer's Dropbox."""

    folder: str
    name: str
    size: int
    content_hash: str


@dataclass
class SpaceVerdict:
    """The answer to "does it fit?", with the numbers the page and the JSON show."""

    format: str
    needed: int
    free: int
    # Other formats of the same albums and what each would need (whole size), smallest first.
    alternatives: list[tuple[str, int]] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.needed <= self.free

    @property
    def fitting_formats(self) -> list[tuple[str, int]]:
        return [(fmt, size) for fmt, size in self.alternatives if size <= self.free]

    def message(self) -> str:
        """``FLAC needs 1.9 GB, you have 600.0 MB free in your Dropbox; MP3 needs 480.0 MB.``"""
        text = (f"{format_label(self.format)} needs {filesize(self.needed)}, you have {filesize(self.free)} "
                f"free in your Dropbox")
        fitting = self.fitting_formats
        if fitting:
            others = ", ".join(f"{format_label(fmt)} needs {filesize(size)}" for fmt, size in fitting)
            return f"{text}; {others}."
        return f"{text}. Make room in your Dropbox, then try again."

    def as_json(self) -> dict[str, Any]:
        return {
            "reason": "insufficient_space",
            "error": self.message(),
            "format": self.format,
            "needed": self.needed,
            "free": self.free,
            "fits": [{"format": fmt, "needed": size} for fmt, size in self.fitting_formats],
        }


def space_usage(dbx: dropbox.Dropbox) -> SpaceUsage:
    """The buyer's usage from ``users/get_space_usage``.

    For a team allocation, the team's free space counts, and so does the member's own limit
    when the team sets one (``user_within_team_space_allocated`` 0 means none).

    :raises DropboxException: or a requests error, when Dropbox cannot say.
    """
    usage = dbx.users_get_space_usage()
    allocation = usage.allocation
    if allocation.is_individual():
        return SpaceUsage(used=usage.used, allocated=allocation.get_individual().allocated)
    if allocation.is_team():
        team = allocation.get_team()
        free = team.allocated - team.used
        if team.user_within_team_space_allocated and team.user_within_team_space_limit_type.is_stop_sync():
            # A member limit that only alerts lets the member go past it.
            free = min(free, team.user_within_team_space_allocated - team.user_within_team_space_used_cached)
        return SpaceUsage(used=usage.used, allocated=usage.used + max(0, free))
    # An allocation kind this SDK does not know: no number to refuse on.
    return SpaceUsage(used=usage.used, allocated=usage.used + 2**62)


def wanted_files(albums: Sequence[Album], fmt: str) -> list[Wanted]:
    """Every file of ``albums`` in ``fmt``, where a delivery puts it."""
    wanted = []
    for album in albums:
        folder = buyer_folder(album, fmt)
        for entry in track_entries(album, fmt):
            wanted.append(Wanted(folder, entry.name, entry.file.size, entry.file.dropbox_content_hash))
    return wanted


def wanted_from_rows(rows: Iterable[tuple[str, str, TrackFile]]) -> list[Wanted]:
    """``(folder, name, track file)`` of a delivery's files that are not done yet."""
    return [Wanted(folder, name, tf.size, tf.dropbox_content_hash) for folder, name, tf in rows]


def already_there(dbx: dropbox.Dropbox, wanted: Sequence[Wanted]) -> set[tuple[str, str]]:
    """``(folder, name)`` of wanted files the buyer already has with our content hash."""
    present: set[tuple[str, str]] = set()
    for folder in dict.fromkeys(w.folder for w in wanted):
        try:
            result = dbx.files_list_folder(folder)
            entries = list(result.entries)
            while result.has_more:
                result = dbx.files_list_folder_continue(result.cursor)
                entries.extend(result.entries)
        except dropbox.exceptions.ApiError:
            continue  # no such folder: nothing of it is there yet
        hashes = {e.name.lower(): e.content_hash for e in entries if isinstance(e, dbx_files.FileMetadata)}
        for w in wanted:
            if w.folder == folder and hashes.get(w.name.lower()) == w.content_hash:
                present.add((w.folder, w.name))
    return present


def check_space(dbx: dropbox.Dropbox, albums: Sequence[Album], fmt: str,
                wanted: Sequence[Wanted] | None = None) -> SpaceVerdict | None:
    """Whether ``wanted`` (default: every file of ``albums`` in ``fmt``) fits the buyer's Dropbox.

    :returns: the verdict, or None when Dropbox could not be asked (the delivery goes ahead).
    """
    wanted = list(wanted_files(albums, fmt) if wanted is None else wanted)
    try:
        usage = space_usage(dbx)
        needed = sum(w.size for w in wanted)
        if needed > usage.free:
            present = already_there(dbx, wanted)
            needed = sum(w.size for w in wanted if (w.folder, w.name) not in present)
    except (DropboxException, requests.RequestException) as exc:
        log.info("space check skipped: %s", type(exc).__name__)
        return None
    sizes = ((other, sum(w.size for w in wanted_files(albums, other))) for other in FORMATS if other != fmt)
    alternatives = sorted(((other, size) for other, size in sizes if size), key=lambda item: item[1])
    return SpaceVerdict(format=fmt, needed=needed, free=usage.free, alternatives=alternatives)


def space_verdict(order: Order, target: str, fmt: str, delivery: Delivery | None) -> SpaceVerdict | None:
    """Whether what ``delivery`` still lacks (or the whole target, for a new one) fits in the
    order's connected Dropbox; None: unknown (no connection, or the check could not be made)."""
    connection = connections.connection_for(order)
    if connection is None:
        return None
    dbx = buyer_client(connection, timeout=SPACE_CHECK_TIMEOUT)
    before, _ = held_token(dbx)
    wanted = None
    if delivery is not None:
        wanted = wanted_from_rows((f.folder, f.name, f.track_file) for f in delivery.files
                                  if f.status != FileStatus.DONE.value)
    verdict = check_space(dbx, target_albums(order, target), fmt, wanted)
    connections.remember_refreshed_token(connection.id, dbx, before)
    return verdict
