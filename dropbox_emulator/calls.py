"""The route registry, the per-call context and argument/path helpers.

Route modules register handlers with :func:`route`; :mod:`.api` dispatches.
A handler receives a :class:`Call` and the decoded JSON argument and returns
a JSON-able result (or a :class:`flask.Response` for downloads), or raises a
:class:`~.wire.DropboxWireError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .filesystem import Namespace, Node
from .state import AccessToken, Account, App
from .wire import BadInput, RouteError, lookup_error

if TYPE_CHECKING:
    from .emulator import Emulator

Handler = Callable[["Call", Any], Any]
Wrap = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """A route's wire style (``rpc``, ``upload``, ``download``), scope and handler.

    ``write`` routes count against the per-namespace concurrent-write limit.
    """

    name: str
    style: str
    scope: str | None
    write: bool
    handler: Handler


REGISTRY: dict[str, Route] = {}


def route(name: str, *, style: str = "rpc", scope: str | None, write: bool = False
          ) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        REGISTRY[name] = Route(name, style, scope, write, handler)
        return handler

    return register


@dataclass
class Call:
    """One authenticated API call: who, through which app, against which namespace."""

    emulator: Emulator
    route: str
    account: Account
    app: App
    token: AccessToken

    @property
    def namespace(self) -> Namespace:
        return self.account.namespace

    @property
    def root(self) -> str:
        return self.app.root

    def full_path(self, api_path: str) -> str:
        return self.root + api_path

    def visible(self, node: Node | None) -> Node | None:
        """``node`` if it lies inside the app's folder (and is not that folder), else ``None``."""
        if node is None or not node.path_lower.startswith(self.root.lower() + "/"):
            return None
        return node

    def metadata(self, node: Node, tagged: bool = True) -> dict[str, Any]:
        """Render ``node`` as ``Metadata`` with app-relative paths (``.tag`` if ``tagged``)."""
        display = node.path_display[len(self.root):]
        body: dict[str, Any] = {
            "name": node.name,
            "path_lower": display.lower(),
            "path_display": display,
            "id": node.id,
        }
        if node.is_file:
            body.update(client_modified=node.client_modified, server_modified=node.server_modified,
                        rev=node.rev, size=node.size, is_downloadable=True,
                        content_hash=node.content_hash)
        if tagged:
            body = {".tag": node.kind, **body}
        return body


def deleted_metadata(display: str) -> dict[str, Any]:
    return {".tag": "deleted", "name": display.rsplit("/", 1)[1],
            "path_lower": display.lower(), "path_display": display}


# -- argument fields ---------------------------------------------------------------------------

def need_object(arg: Any) -> dict[str, Any]:
    if not isinstance(arg, dict):
        raise BadInput("request body: expected object, got " + type(arg).__name__)
    return arg


def str_field(arg: dict[str, Any], name: str, default: str | None = None) -> str:
    value = arg.get(name, default)
    if value is None:
        raise BadInput(f"request body: missing required field '{name}'")
    if not isinstance(value, str):
        raise BadInput(f"request body: {name}: expected string, got {type(value).__name__}")
    return value


def bool_field(arg: dict[str, Any], name: str, default: bool = False) -> bool:
    value = arg.get(name, default)
    if not isinstance(value, bool):
        raise BadInput(f"request body: {name}: expected boolean, got {type(value).__name__}")
    return value


def int_field(arg: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    value = arg.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (
            high is not None and value > high):
        raise BadInput(f"request body: {name}: expected integer in [{low}, {high}]")
    return value


def union_field(arg: dict[str, Any], name: str, default: str) -> tuple[str, dict[str, Any]]:
    """Read a union field in either form: ``"add"`` or ``{".tag": "add"}``."""
    value = arg.get(name, default)
    if isinstance(value, str):
        return value, {".tag": value}
    if isinstance(value, dict) and isinstance(value.get(".tag"), str):
        return value[".tag"], value
    raise BadInput(f"request body: {name}: expected union tag")


# -- paths -------------------------------------------------------------------------------------

def is_malformed(path: str) -> bool:
    """Paths Dropbox rejects as ``malformed_path``: ``//``, a trailing ``/``, ``.``/``..``."""
    parts = path.split("/")[1:]
    return any(part in ("", ".", "..") for part in parts) or "\x00" in path


def check_pattern(path: str, field: str, allow_id: bool) -> None:
    if path.startswith("/") or (allow_id and path.startswith(("id:", "rev:", "ns:"))):
        return
    raise BadInput(f"request body: {field}: '{path}' did not match pattern '(/(.|[\\r\\n])*)'")


def lookup(call: Call, path: str, wrap: Wrap, field: str = "path") -> Node | None:
    """Resolve a ``ReadPath`` (``/a/b`` or ``id:...``) inside the app folder.

    :returns: the node, or ``None`` when nothing is there.
    :raises RouteError: ``wrap(malformed_path)`` for a malformed path.
    """
    check_pattern(path, field, allow_id=True)
    if path.startswith("id:"):
        return call.visible(call.namespace.get_by_id(path))
    if not path.startswith("/"):
        return None
    if is_malformed(path):
        raise RouteError(wrap(lookup_error("malformed_path")))
    return call.visible(call.namespace.get(call.full_path(path)))


def write_target(call: Call, path: str, wrap: Wrap, field: str = "path") -> str:
    """Resolve a ``WritePath``/``WritePathOrId`` to a full namespace path.

    :raises RouteError: ``wrap(malformed_path)`` for the root or a malformed path,
        ``wrap(not_found)`` for an unknown ``id:``.
    """
    check_pattern(path, field, allow_id=True)
    if path.startswith("id:"):
        node = call.visible(call.namespace.get_by_id(path))
        if node is None:
            raise RouteError(wrap(lookup_error("not_found")))
        return node.path_display
    if not path.startswith("/") or path == "/" or is_malformed(path):
        raise RouteError(wrap(lookup_error("malformed_path")))
    return call.full_path(path)
