"""Serving an emulator: as a command-line process, or in a thread for tests."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


def serve_until_interrupted(app: Any, host: str, port: int, name: str,
                            on_stop: Callable[[], None] | None = None,
                            announce: Callable[[str], None] | None = None) -> int:
    """Serve ``app`` threaded until Ctrl-C or SIGTERM; return the exit status (0).

    The first stdout line is ``<name> listening on http://HOST:PORT``, flushed at once, so a
    parent process can learn the port when ``port`` is 0.

    :param on_stop: called after the server has stopped (close files, join threads).
    :param announce: called with the base URL after the first line, to print more lines.
    """
    server = make_server(host, port, app, threaded=True)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (what a parent process sends) stops as cleanly as Ctrl-C: on_stop runs.
        signal.signal(signal.SIGTERM, _interrupt)
    base_url = f"http://{host}:{server.server_port}"
    print(f"{name} listening on {base_url}", flush=True)
    if announce is not None:
        announce(base_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if on_stop is not None:
            on_stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class ServerThread:
    """Serve a WSGI app on loopback in a daemon thread (threaded, port 0 by default).

    Use as a context manager; :attr:`base_url` is known as soon as it is built.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 poll_interval: float = 0.05) -> None:
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.base_url = f"http://{host}:{self.server.server_port}"
        # A short poll makes stop() quick: shutdown() waits for the loop's next poll.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(poll_interval,),
                                        daemon=True, name=f"server {self.base_url}")

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
