"""``/home``: a plain HTML view of accounts and their files (whole namespaces)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template

from .emulator import Emulator, UnknownError
from .state import Account

bp = Blueprint("web", __name__)


def _emulator() -> Emulator:
    return current_app.extensions["dropbox_emulator"]


def _account(email: str) -> Account:
    try:
        return _emulator().account(email)
    except UnknownError:
        abort(404, "No such account.")


@bp.get("/")
@bp.get("/home")
def home() -> str:
    emulator = _emulator()
    with emulator.store.lock:
        accounts = [
            {"email": a.email, "account_id": a.account_id,
             "files": sum(1 for n in a.namespace.nodes.values() if n.is_file)}
            for a in sorted(emulator.store.accounts.values(), key=lambda a: a.email.lower())
        ]
        apps = sorted(emulator.store.apps.values(), key=lambda app: app.key)
    return render_template("dropbox_emulator/home.html", accounts=accounts, apps=apps)


@bp.get("/home/<email>/files/", defaults={"path": ""})
@bp.get("/home/<email>/files/<path:path>")
def browse(email: str, path: str) -> str:
    account = _account(email)
    emulator = _emulator()
    full = "/" + path if path else ""
    with emulator.store.lock:
        node = account.namespace.get(full) if full else None
        if full and node is None:
            abort(404, "No such file or folder.")
        entries = [] if node and node.is_file else account.namespace.subtree(full.lower(), False)
    parts = node.path_display.split("/")[1:] if node else []
    crumbs = [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]
    return render_template("dropbox_emulator/browse.html", email=account.email, path=path,
                           crumbs=crumbs, entries=entries,
                           file=node if node and node.is_file else None)


@bp.get("/home/<email>/raw/<path:path>")
def raw(email: str, path: str) -> Response:
    account = _account(email)
    emulator = _emulator()
    with emulator.store.lock:
        node = account.namespace.get("/" + path)
    if node is None or not node.is_file:
        abort(404, "No such file.")
    return Response(emulator.blobs.iter_content(node.content_hash), direct_passthrough=True,
                    headers={"Content-Length": str(node.size),
                             "Content-Type": "application/octet-stream",
                             "Content-Disposition": "attachment"})
