"""Helpers to point the official SDK (or any ``requests`` user) at the emulator.

* :func:`emulator_session` -- in-process, no socket: a ``requests.Session`` whose
  Dropbox hosts are served by :class:`FlaskAdapter` straight into the Flask app.
* :class:`RedirectingSession` -- over real HTTP: rewrites the Dropbox host prefixes
  to the emulator's base URL.
* serving an app on loopback in a thread: :class:`emulator_common.ServerThread`.
* :class:`EmulatorProcess` -- run ``python -m dropbox_emulator`` as a subprocess.
* :class:`RssSampler` -- sample a process's resident memory (needs ``psutil``).

Pass a session as ``dropbox.Dropbox(..., session=s)`` and assign it to
``flow.requests_session`` on every ``dropbox.DropboxOAuth2Flow``.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

import emulator_common

#: Hosts the SDK talks to, plus the web host of the authorize page.
DROPBOX_PREFIXES = (
    "https://api.dropboxapi.com",
    "https://content.dropboxapi.com",
    "https://notify.dropboxapi.com",
    "https://www.dropbox.com",
)
#: Base URL under which an in-process session also reaches ``/__emulator__/`` and ``/home``.
IN_PROCESS_BASE = "http://dropbox-emulator.test"


class _ChunkReader(io.RawIOBase):
    """A file-like ``read(n)`` over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes], on_close: Any = None) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            rest = self._pending + b"".join(self._chunks)
            self._pending = b""
            return rest
        while len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()


def _body_stream(body: Any) -> tuple[Any, int | None]:
    if body is None:
        return io.BytesIO(b""), 0
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return io.BytesIO(body), len(body)
    if hasattr(body, "read"):
        return body, None
    return _ChunkReader(chunk.encode() if isinstance(chunk, str) else chunk for chunk in body), None


class FlaskAdapter(BaseAdapter):
    """A ``requests`` transport adapter that answers from a Flask app's test client.

    Request bodies are passed as streams and response bodies are read lazily, so
    large uploads and downloads behave as they do over a socket.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        assert request.url is not None
        parts = urlsplit(request.url)
        input_stream, length = _body_stream(request.body)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("content-length", "content-type", "host")}
        if length is None and "Content-Length" in request.headers:
            length = int(request.headers["Content-Length"])
        result = self.app.test_client().open(
            parts.path,
            base_url=f"{parts.scheme}://{parts.netloc}",
            query_string=parts.query,
            method=request.method or "GET",
            headers=headers,
            input_stream=input_stream,
            content_length=length,
            content_type=request.headers.get("Content-Type"),
            buffered=False,
            follow_redirects=False,
        )
        response = requests.Response()
        response.status_code = result.status_code
        response.reason = result.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(result.headers.items())
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = _ChunkReader(result.iter_encoded(), result.close)
        response.url = request.url
        response.request = request
        response.connection = self
        if not stream:
            response.content  # noqa: B018 -- read now, like requests does without stream
        return response

    def close(self) -> None:
        pass


def emulator_session(app: Flask, session: requests.Session | None = None) -> requests.Session:
    """Mount :class:`FlaskAdapter` for the Dropbox hosts and :data:`IN_PROCESS_BASE`."""
    session = session or requests.Session()
    adapter = FlaskAdapter(app)
    for prefix in (*DROPBOX_PREFIXES, IN_PROCESS_BASE):
        session.mount(prefix + "/", adapter)
    return session


class RedirectingSession(requests.Session):
    """A ``requests.Session`` that sends Dropbox traffic to ``base_url`` instead.

    ``https://api.dropboxapi.com/2/...`` becomes ``<base_url>/2/...``; likewise for the
    content, notify and www hosts. Other URLs pass through untouched.
    """

    prefixes: Sequence[str] = DROPBOX_PREFIXES

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        for prefix in self.prefixes:
            if url.startswith(prefix + "/"):
                return self.base_url + url[len(prefix):]
        return url

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
                ) -> requests.Response:
        if isinstance(url, str):
            url = self.rewrite(url)
        return super().request(method, url, *args, **kwargs)


def emulator_authorize_url(authorize_url: str, base_url: str) -> str:
    """Turn ``flow.start()``'s ``https://www.dropbox.com/oauth2/authorize?...`` to the emulator."""
    return RedirectingSession(base_url).rewrite(authorize_url)


class EmulatorProcess(emulator_common.EmulatorProcess):
    """Run ``python -m dropbox_emulator`` on a free port; learns the port from its first line.

    :param apps: ``(key, secret)`` or ``(key, secret, name)`` tuples for ``--app``.
    """

    def __init__(self, apps: Iterable[Sequence[str]] = (), data_dir: str | Path | None = None,
                 latency_ms: float = 0.0, extra_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, startup_timeout: float = 20.0) -> None:
        args: list[str] = []
        for app in apps:
            args += ["--app", ":".join(app)]
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
        if latency_ms:
            args += ["--latency-ms", str(latency_ms)]
        super().__init__("dropbox_emulator", [*args, *extra_args], env=env, startup_timeout=startup_timeout)


class RssSampler:
    """Sample a process's RSS every ``interval`` seconds in a thread; keeps the peak.

    Use as a context manager around the work; read :attr:`before`, :attr:`peak`, :attr:`after`.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil  # a development dependency, needed only here

        self._process = psutil.Process(pid)
        self.interval = interval
        self.before = self.peak = self.after = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.before = self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = self.rss()
        self.peak = max(self.peak, self.after)
