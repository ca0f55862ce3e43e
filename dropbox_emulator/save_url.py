"""The background download behind ``files/save_url``.

Streams the URL to a temporary blob with ``requests``, then commits the file
(mode ``add``, no autorename) and records the job's final status. Network and
HTTP failures become ``download_failed``; a conflict that appeared meanwhile
becomes ``path/conflict``, and a file that does not fit the account's space
allocation ``path/insufficient_space``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from .filesystem import InsufficientSpace, WriteConflict
from .ids import utcnow
from .state import SaveUrlJob
from .wire import write_error

if TYPE_CHECKING:
    from .calls import Call
    from .emulator import Emulator

CHUNK_SIZE = 1024 * 1024


def fetch_url(emulator: Emulator, job: SaveUrlJob, call: Call, destination: str, url: str) -> None:
    """Run one save_url job to completion; never raises."""
    received = None
    try:
        with emulator.http_session_factory() as session, session.get(
            url, stream=True, timeout=(10, emulator.settings.save_url_timeout)
        ) as response:
            if response.status_code != 200:
                raise requests.HTTPError(f"status {response.status_code}")
            received = emulator.blobs.receive(response.iter_content(CHUNK_SIZE))
    except (requests.RequestException, OSError):
        _finish(emulator, job, {".tag": "failed", "failed": {".tag": "download_failed"}})
        return
    assert received.path is not None
    with emulator.store.transaction():
        try:
            node = call.namespace.write_file(destination, size=received.size,
                                             content_hash=received.content_hash, now=utcnow(),
                                             limit=call.account.allocated)
        except (WriteConflict, InsufficientSpace) as failure:
            emulator.blobs.discard(received.path)
            job.status = {".tag": "failed",
                          "failed": {".tag": "path", "path": write_error(failure)}}
            return
        emulator.blobs.commit(received.path, received.content_hash)
        job.status = {".tag": "complete", **call.metadata(node, tagged=False)}


def _finish(emulator: Emulator, job: SaveUrlJob, status: dict[str, object]) -> None:
    with emulator.store.lock:
        job.status = status
