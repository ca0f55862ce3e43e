"""What the local emulators (``dropbox_emulator``, ``stripe_emulator``) share.

* :mod:`.server` -- serve a Flask app threaded, announcing its URL on the first stdout
  line (:func:`serve_until_interrupted`), or in a background thread (:class:`ServerThread`).
* :mod:`.responses` -- JSON responses with the exact ``application/json`` type, request ids.
* :mod:`.persistence` -- one JSON state file, written atomically.
* :mod:`.clock` -- a wall clock that tests can move forward.
* :mod:`.process` -- run ``python -m <emulator>`` on a free port (:class:`EmulatorProcess`).

Nothing here knows about Dropbox or Stripe.
"""

from __future__ import annotations

from .clock import Clock
from .persistence import JsonStateFile
from .process import EmulatorProcess
from .responses import install_request_ids, json_response, random_token
from .server import ServerThread, serve_until_interrupted

__all__ = [
    "Clock",
    "EmulatorProcess",
    "JsonStateFile",
    "ServerThread",
    "install_request_ids",
    "json_response",
    "random_token",
    "serve_until_interrupted",
]
