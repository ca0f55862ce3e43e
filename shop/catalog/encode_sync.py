"""Encoding without a queue: tracks in parallel processes, here and now.

``flask catalog import --sync``, ``flask catalog encode --sync`` and the demo use
:func:`encode_now`. The pool processes only encode (:func:`shop.catalog.encode_work.run_task`);
claims, storage and database writes stay in this process (:mod:`shop.catalog.encode_rows`).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from shop.catalog.encode_rows import claim, fail, finish, heartbeat, master_key, prepare, refusal, worker_name
from shop.catalog.encode_work import EncodeTask, TaskResult, run_task
from shop.storage import Storage, get_storage

Echo = Callable[[str], None]


@dataclass
class EncodeSummary:
    tracks: int = 0
    files: int = 0
    failures: list[str] = field(default_factory=list)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers <= 1:
        yield None
        return
    # forkserver: the children start from a clean process (no inherited database
    # connections or threads) and import the encoder, the preview and its numpy once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["shop.catalog.encoding", "shop.catalog.previews", "numpy"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


def encode_now(track_ids: Iterable[int], workers: int | None = None, echo: Echo | None = None,
               storage: Storage | None = None) -> EncodeSummary:
    """Encode the tracks' waiting formats here and now, tracks in parallel processes (the
    database and storage writes stay in this process). Needs an app context.

    A track is claimed (and its master fetched) only when a process is about to take it, and
    the claims in flight are renewed as results come in, so a long run never looks stale to
    a worker's sweep.
    """
    storage = storage or get_storage()
    me = worker_name("sync")
    summary = EncodeSummary()
    waiting = list(track_ids)
    workers = min(workers or default_workers(), max(1, len(waiting)))
    with tempfile.TemporaryDirectory(prefix="encode-") as tmp, _pool(workers) as pool:

        def take() -> EncodeTask | None:
            """The next track with something to encode, claimed and fetched; None when done."""
            while waiting:
                track_id = waiting.pop(0)
                formats = claim(track_id, me)
                if not formats:
                    continue
                workdir = Path(tmp) / str(track_id)
                workdir.mkdir()
                try:
                    return prepare(track_id, formats, workdir, storage)
                except LookupError as exc:
                    fail(track_id, me, str(exc), retry=False)
                    summary.failures.append(str(exc))
            return None

        if pool is None:
            while (task := take()) is not None:
                _record(task, _run_safely(task), me, storage, summary, echo)
            return summary
        in_flight: dict[Future[TaskResult], EncodeTask] = {}
        while True:
            while len(in_flight) < workers and (task := take()) is not None:
                in_flight[pool.submit(run_task, task)] = task
            if not in_flight:
                return summary
            finished = next(as_completed(in_flight))
            task = in_flight.pop(finished)
            _record(task, finished.exception() or finished.result(), me, storage, summary, echo)
            for other in in_flight.values():
                heartbeat(other.track_id, me)


def _run_safely(task: EncodeTask) -> TaskResult | BaseException:
    try:
        return run_task(task)
    except Exception as exc:  # recorded as a retryable failure, like a crashed job
        return exc


def _record(task: EncodeTask, result: TaskResult | BaseException, me: str, storage: Storage,
            summary: EncodeSummary, echo: Echo | None) -> None:
    summary.tracks += 1
    reason = None
    if isinstance(result, BaseException):
        reason = f"{task.label}: {type(result).__name__}: {result}"
        fail(task.track_id, me, reason, retry=True)
    elif result.error is not None:
        reason = refusal(task, master_key(task.track_id), result.error)
        fail(task.track_id, me, reason, retry=False)
    else:
        for output in result.outputs:
            if finish(task.track_id, me, output, storage):
                summary.files += 1
    if reason is not None:
        summary.failures.append(reason)
    if echo:
        echo(f"  FAILED: {reason}" if reason else f"  encoded {task.label} ({len(task.formats)} files)")
