"""Encoding one track: its buyer formats and its preview, from a master on local disk.

No database and no storage here: an :class:`EncodeTask` carries everything, so it can be
pickled to a pool process (:mod:`shop.catalog.encode_sync`) or run in the worker's own
process (:mod:`shop.catalog.jobs`). :mod:`shop.catalog.encode_rows` fetches the master and
records the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shop.catalog.encoding import encode
from shop.catalog.hashing import Digests
from shop.catalog.masters import MasterError, MasterInfo, probe_master
from shop.catalog.previews import make_preview
from shop.catalog.tag_writing import TrackTags
from shop.formats import get_format
from shop.models import PREVIEW


@dataclass(frozen=True)
class EncodeTask:
    """Everything needed to encode one track, without the database (picklable)."""

    track_id: int
    label: str
    master_path: Path
    out_dir: Path
    formats: tuple[str, ...]
    tags: TrackTags
    cover: bytes | None


@dataclass(frozen=True)
class EncodeOutput:
    format: str
    path: Path
    digests: Digests
    extension: str
    duration_ms: int


def encode_one(task: EncodeTask, fmt: str, info: MasterInfo | None = None) -> EncodeOutput:
    """Encode one format (or the preview) of ``task``'s master into ``task.out_dir``.

    :raises MasterError: when the master turns out corrupt.
    """
    if fmt == PREVIEW:
        preview = make_preview(task.master_path, task.out_dir / "preview.mp3", master=info)
        return EncodeOutput(fmt, preview.path, preview.digests, "mp3", preview.duration_ms)
    extension = get_format(fmt).extension
    encoded = encode(task.master_path, fmt, task.out_dir / f"{fmt}.{extension}", task.tags, task.cover,
                     master=info)
    return EncodeOutput(fmt, encoded.path, encoded.digests, extension, encoded.duration_ms)


@dataclass(frozen=True)
class TaskResult:
    track_id: int
    outputs: tuple[EncodeOutput, ...] = ()
    #: Why the master was refused; then nothing was encoded.
    error: str | None = None


def run_task(task: EncodeTask) -> TaskResult:
    """Probe the master once and encode every format of ``task`` (runs in a pool process)."""
    try:
        master = probe_master(task.master_path)
        return TaskResult(task.track_id, tuple(encode_one(task, fmt, master) for fmt in task.formats))
    except MasterError as exc:
        return TaskResult(task.track_id, error=exc.reason)
