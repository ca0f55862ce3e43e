"""Static files under content-hashed names, cached by browsers for a year.

At start the app reads every file under its static folder once and names each by its
content: ``css/site.css`` becomes ``css/site.1a2b3c4d5e.css``. ``url_for('static', ...)``
(in every template, the console's included) then gives the hashed name, and a request for
a hashed name is answered with ``Cache-Control: public, max-age=31536000, immutable``: a
changed file has a new name, so a browser never needs to ask again. Plain names are still
served, with the ordinary short cache. A file edited while the app runs keeps its old hash
until the next start.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, send_from_directory

ONE_YEAR = 31_536_000
HASH_LENGTH = 10


@dataclass
class Manifest:
    """``hashed`` maps a plain name to its hashed name; ``plain`` the other way."""

    hashed: dict[str, str] = field(default_factory=dict)
    plain: dict[str, str] = field(default_factory=dict)


def hashed_name(name: str, content: bytes) -> str:
    """``css/site.css`` -> ``css/site.<first 10 hex digits of its SHA-256>.css``."""
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    folder, _, file = name.rpartition("/")
    stem, dot, extension = file.rpartition(".")
    renamed = f"{stem}.{digest}.{extension}" if dot else f"{file}.{digest}"
    return f"{folder}/{renamed}" if folder else renamed


def build_manifest(folder: Path) -> Manifest:
    manifest = Manifest()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            name = path.relative_to(folder).as_posix()
            renamed = hashed_name(name, path.read_bytes())
            manifest.hashed[name] = renamed
            manifest.plain[renamed] = name
    return manifest


def _manifest() -> Manifest:
    manifest: Manifest = current_app.extensions["shop.static_assets"]
    return manifest


def serve_static(filename: str) -> Response:
    """The static route's view: a hashed name is its file, cached for a year."""
    manifest = _manifest()
    plain = manifest.plain.get(filename)
    folder = current_app.static_folder
    assert folder is not None
    if plain is None:
        return current_app.send_static_file(filename)
    response = send_from_directory(folder, plain, max_age=ONE_YEAR)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


def register(app: Flask) -> None:
    """Build the manifest and hash the names that ``url_for('static', filename=...)`` gives."""
    assert app.static_folder is not None
    app.extensions["shop.static_assets"] = build_manifest(Path(app.static_folder))

    def hash_static_names(endpoint: str | None, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = _manifest().hashed.get(values["filename"], values["filename"])

    app.url_defaults(hash_static_names)
    app.view_functions["static"] = serve_static
