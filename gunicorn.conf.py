"""gunicorn settings for the store: ``gunicorn -c gunicorn.conf.py`` (or just ``gunicorn``
from the repository root, which reads this file by default).

Downloads are long: a multi-GB zip to a slow connection can take hours. With the
``gthread`` worker each request runs in a thread of a pool while the worker's main loop
keeps telling the arbiter it is alive (``notify()`` at least once a second, whatever the
request threads are doing), so ``timeout`` only catches a worker whose main loop is stuck,
never a slow client. With the ``sync`` worker, by contrast, one slow download would stop
the heartbeat and be killed after ``timeout`` seconds; tests/downloads/test_live.py
shows both. A download never blocks the others beyond its own thread.

Every setting can be overridden on the command line or with ``GUNICORN_CMD_ARGS``.
"""

from __future__ import annotations

import multiprocessing
import os
import re

from gunicorn.glogging import Logger


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _bind() -> str:
    if os.environ.get("SHOP_BIND"):
        return os.environ["SHOP_BIND"]
    if os.environ.get("PORT"):
        # Platforms that set PORT route to the container from outside it.
        return f"0.0.0.0:{os.environ['PORT']}"
    return "127.0.0.1:8000"


wsgi_app = "wsgi:app"
bind = _bind()
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2, 8))
# Each download holds one thread for its duration; threads are cheap (about one read
# chunk of memory each), and the proxy in front bounds the connections anyway.
threads = _int("SHOP_THREADS", 32)
# The heartbeat of an idle or busy gthread worker comes every second; 60 s is generous.
timeout = _int("SHOP_WORKER_TIMEOUT", 60)
# On a restart, downloads in flight get this long to finish; the rest resume with Range.
graceful_timeout = _int("SHOP_GRACEFUL_TIMEOUT", 120)
# Behind a reverse proxy that reuses upstream connections; a little longer than nginx's
# default upstream keepalive_timeout of 60 s would be wasteful, a few seconds is plenty.
keepalive = _int("SHOP_KEEPALIVE", 5)
# Do not set ``sendfile`` here: gunicorn 23 reads *any* value of it, True included, as
# "disabled" (Config.sendfile returns False whenever the setting is not None). Left
# unset, files returned through wsgi.file_wrapper go out with sendfile(2).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("SHOP_LOG_LEVEL", "info")

_ORDER_TOKEN = re.compile(r"/orders/[A-Za-z0-9_-]{20,}")
_FETCH_TOKEN = re.compile(r"/dropbox/files/[^ ?]+")


class RedactingLogger(Logger):
    """Access log without secrets in paths: order links and signed fetch links (every atom,
    so the request line, the referer and ``{raw_uri}e``-style atoms alike)."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        atoms = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if isinstance(value, str):
                value = _ORDER_TOKEN.sub("/orders/<token>", value)
                atoms[name] = _FETCH_TOKEN.sub("/dropbox/files/<token>", value)
        return atoms


logger_class = RedactingLogger
