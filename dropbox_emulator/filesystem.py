"""One account's namespace: a case-insensitive tree of file and folder nodes.

Pure data structure, no locking and no I/O: the caller (:mod:`.state`) holds
the metadata lock. Paths here are *namespace* paths (``/Apps/Shop/a.flac``);
the API layer maps app-relative paths onto them. Files keep their id across
revisions and moves, like Dropbox. A change log (sequence number, path) feeds
``list_folder/continue``. :attr:`Namespace.used` is the total size of every
file, kept up to date by each change; writes that add bytes take a ``limit``
and raise :class:`InsufficientSpace` rather than go past it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from .ids import format_timestamp, new_file_id, new_rev

MAX_CHANGES = 200_000


class WriteConflict(Exception):
    """A write hit something in the way; ``kind`` is ``file``, ``folder`` or ``file_ancestor``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class InsufficientSpace(Exception):
    """A write would take the namespace past its space allocation."""


@dataclass
class Node:
    """A file or folder; ``path_display`` is its full namespace path."""

    kind: str
    path_display: str
    id: str
    rev: str = ""
    size: int = 0
    content_hash: str = ""
    client_modified: str = ""
    server_modified: str = ""

    @property
    def path_lower(self) -> str:
        return self.path_display.lower()

    @property
    def name(self) -> str:
        return self.path_display.rsplit("/", 1)[1]

    @property
    def is_file(self) -> bool:
        return self.kind == "file"


def parent_path(path: str) -> str:
    """``/a/b`` -> ``/a``; ``/a`` -> ``""`` (the root)."""
    return path.rsplit("/", 1)[0]


def ancestors(path: str) -> list[str]:
    """Proper ancestors of ``path`` from the top, excluding the root: ``/a/b/c`` -> ``/a``, ``/a/b``."""
    parts = path.split("/")[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def is_within(path_lower: str, folder_lower: str) -> bool:
    """Whether ``path_lower`` is ``folder_lower`` or below it (``""`` is the root)."""
    return path_lower == folder_lower or path_lower.startswith(folder_lower + "/")


def numbered_name(name: str, suffix: str, is_file: bool) -> str:
    """Insert ``suffix`` before a file's extension: ``a.flac`` -> ``a (1).flac``."""
    stem, dot, ext = name.rpartition(".")
    if is_file and dot and stem:
        return f"{stem}{suffix}.{ext}"
    return f"{name}{suffix}"


@dataclass
class Namespace:
    """All nodes of one account, indexed by lowercase path and by id."""

    nodes: dict[str, Node] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    by_id: dict[str, str] = field(default_factory=dict)
    sequence: int = 0
    changes: list[tuple[int, str, str]] = field(default_factory=list)
    #: Changes after this sequence number are all still in ``changes``.
    log_start: int = 0
    #: Bytes of every file in the namespace (a file stored twice counts twice).
    used: int = 0

    # -- lookups ---------------------------------------------------------------------------

    def get(self, path: str) -> Node | None:
        return self.nodes.get(path.lower())

    def get_by_id(self, node_id: str) -> Node | None:
        path = self.by_id.get(node_id)
        return self.nodes[path] if path is not None else None

    def child_paths(self, folder_lower: str) -> set[str]:
        return self.children.get(folder_lower, set())

    def subtree(self, folder_lower: str, recursive: bool = True) -> list[Node]:
        """Descendants of a folder (not the folder itself), sorted by path."""
        found: list[Node] = []
        pending = [folder_lower]
        while pending:
            current = pending.pop()
            for child in self.child_paths(current):
                node = self.nodes[child]
                found.append(node)
                if recursive and not node.is_file:
                    pending.append(child)
        found.sort(key=lambda node: node.path_lower)
        return found

    def count_below(self, folder_lower: str) -> int:
        return len(self.subtree(folder_lower))

    def display_path(self, path: str) -> str:
        """Keep the casing of existing ancestors, the caller's casing for new components."""
        parts = path.split("/")[1:]
        shown: list[str] = []
        for index in range(len(parts)):
            existing = self.get("/" + "/".join(parts[: index + 1]))
            shown.append(existing.name if existing is not None else parts[index])
        return "/" + "/".join(shown)

    def file_ancestor(self, path: str) -> bool:
        return any((node := self.get(a)) is not None and node.is_file for a in ancestors(path))

    def free_path(self, path: str, is_file: bool, label: str = "") -> str:
        """First ``name (N)`` (or ``name (label)``, then ``name (label N)``) not in use."""
        parent, name = path.rsplit("/", 1)
        candidates: Iterable[str]
        if label:
            candidates = [f" ({label})"] + [f" ({label} {n})" for n in range(2, 10_000)]
        else:
            candidates = [f" ({n})" for n in range(1, 10_000)]
        for suffix in candidates:
            candidate = f"{parent}/{numbered_name(name, suffix, is_file)}"
            if self.get(candidate) is None:
                return candidate
        raise WriteConflict("file" if is_file else "folder")

    # -- mutations -------------------------------------------------------------------------

    def _record(self, node_path: str) -> None:
        self.changes.append((self.sequence, node_path.lower(), node_path))
        if len(self.changes) > MAX_CHANGES:
            dropped = len(self.changes) - MAX_CHANGES
            self.log_start = self.changes[dropped - 1][0]
            del self.changes[:dropped]

    def _bump(self) -> int:
        self.sequence += 1
        return self.sequence

    def ensure_room(self, added: int, limit: int | None) -> None:
        """:raises InsufficientSpace: when adding ``added`` bytes would pass ``limit``."""
        if limit is not None and added > 0 and self.used + added > limit:
            raise InsufficientSpace()

    def _insert(self, node: Node) -> Node:
        lower = node.path_lower
        replaced = self.nodes.get(lower)
        if replaced is not None:
            self.used -= replaced.size
        self.used += node.size
        self.nodes[lower] = node
        self.by_id[node.id] = lower
        self.children.setdefault(parent_path(lower), set()).add(lower)
        self._bump()
        self._record(node.path_display)
        return node

    def make_folders(self, path: str) -> None:
        """Create ``path``'s missing ancestors (not ``path`` itself) as folders.

        :raises WriteConflict: ``file_ancestor`` when an ancestor is a file.
        """
        if self.file_ancestor(path):
            raise WriteConflict("file_ancestor")
        for ancestor in ancestors(path):
            if self.get(ancestor) is None:
                self._insert(Node("folder", self.display_path(ancestor), new_file_id()))

    def create_folder(self, path: str, autorename: bool = False) -> Node:
        """Create a folder (and missing parents).

        :raises WriteConflict: when something exists at ``path`` and not ``autorename``.
        """
        self.make_folders(path)
        existing = self.get(path)
        if existing is not None:
            if not autorename:
                raise WriteConflict(existing.kind)
            path = self.free_path(path, is_file=False)
        return self._insert(Node("folder", self.display_path(path), new_file_id()))

    def write_file(
        self,
        path: str,
        *,
        size: int,
        content_hash: str,
        now: datetime,
        mode: str = "add",
        update_rev: str | None = None,
        autorename: bool = False,
        strict_conflict: bool = False,
        client_modified: str | None = None,
        limit: int | None = None,
    ) -> Node:
        """Apply a ``WriteMode`` write; returns the resulting file node.

        Identical content at the target writes nothing and is no conflict (unless
        ``strict_conflict``); a folder at the target is always a conflict. Nothing
        (not even a missing parent folder) is created when the write fails.

        :raises WriteConflict: on conflict when not ``autorename``.
        :raises InsufficientSpace: when the bytes added would pass ``limit``.
        """
        if self.file_ancestor(path):
            raise WriteConflict("file_ancestor")
        existing = self.get(path)
        stamp = format_timestamp(now)
        modified = client_modified or stamp
        new = (size, content_hash, stamp, modified, limit)
        if existing is None:
            if mode == "update" and strict_conflict:
                return self._conflict_or_rename(path, "file", autorename, "conflicted copy", *new)
            return self._new_file(path, *new)
        if not existing.is_file:
            return self._conflict_or_rename(path, "folder", autorename, "", *new)
        same = existing.content_hash == content_hash
        if mode == "overwrite" or (mode == "update" and existing.rev == update_rev):
            if same and not strict_conflict:
                return existing
            self.ensure_room(size - existing.size, limit)
            return self._replace_content(existing, size, content_hash, stamp, modified)
        if same and not strict_conflict:
            return existing
        label = "conflicted copy" if mode == "update" else ""
        return self._conflict_or_rename(path, "file", autorename, label, *new)

    def _conflict_or_rename(
        self, path: str, kind: str, autorename: bool, label: str,
        size: int, content_hash: str, stamp: str, modified: str, limit: int | None,
    ) -> Node:
        if not autorename:
            raise WriteConflict(kind)
        return self._new_file(self.free_path(path, True, label), size, content_hash, stamp,
                              modified, limit)

    def _new_file(self, path: str, size: int, content_hash: str, stamp: str, modified: str,
                  limit: int | None) -> Node:
        self.ensure_room(size, limit)
        self.make_folders(path)
        node = Node("file", self.display_path(path), new_file_id(), new_rev(self.sequence + 1),
                    size, content_hash, modified, stamp)
        return self._insert(node)

    def _replace_content(
        self, existing: Node, size: int, content_hash: str, stamp: str, modified: str
    ) -> Node:
        updated = replace(existing, rev=new_rev(self.sequence + 1), size=size,
                          content_hash=content_hash, client_modified=modified, server_modified=stamp)
        return self._insert(updated)

    def remove(self, path: str) -> Node:
        """Delete a node and everything below it; returns the removed node."""
        lower = path.lower()
        node = self.nodes[lower]
        for victim in [*self.subtree(lower), node]:
            self.used -= victim.size
            del self.nodes[victim.path_lower]
            self.by_id.pop(victim.id, None)
            self.children.pop(victim.path_lower, None)
        self.children.get(parent_path(lower), set()).discard(lower)
        self._bump()
        self._record(node.path_display)
        return node

    def paste(self, source: Node, below: list[Node], path: str, now: datetime,
              limit: int | None = None) -> Node:
        """Copy ``source`` (and ``below``, its descendants) to ``path``; content is shared.

        :raises WriteConflict: when ``path`` or an ancestor is in the way.
        :raises InsufficientSpace: when the copied files' bytes would pass ``limit``.
        """
        self._check_free(path)
        self.ensure_room(sum(node.size for node in [source, *below]), limit)
        self.make_folders(path)
        root_display = self.display_path(path)
        stamp = format_timestamp(now)
        prefix = len(source.path_display)
        root = None
        for original in [source, *below]:
            copy = replace(original, path_display=root_display + original.path_display[prefix:],
                           id=new_file_id())
            if copy.is_file:
                copy.rev = new_rev(self.sequence + 1)
                copy.server_modified = stamp
            inserted = self._insert(copy)
            root = root or inserted
        assert root is not None
        return root

    def move(self, source: Node, path: str) -> Node:
        """Move ``source`` and everything below it to ``path``; ids and contents stay.

        The caller has refused moving a folder into itself. Usage does not change.

        :raises WriteConflict: when ``path`` or an ancestor is in the way.
        """
        self._check_free(path)
        below = self.subtree(source.path_lower)
        self.make_folders(path)
        root_display = self.display_path(path)
        self.remove(source.path_display)
        prefix = len(source.path_display)
        root = None
        for original in [source, *below]:
            moved = replace(original, path_display=root_display + original.path_display[prefix:])
            if moved.is_file:
                moved.rev = new_rev(self.sequence + 1)
            inserted = self._insert(moved)
            root = root or inserted
        assert root is not None
        return root

    def _check_free(self, path: str) -> None:
        if self.file_ancestor(path):
            raise WriteConflict("file_ancestor")
        existing = self.get(path)
        if existing is not None:
            raise WriteConflict(existing.kind)

    def changed_since(self, since: int, upto: int) -> list[tuple[str, str]]:
        """``(path_lower, path_display)`` changed in ``(since, upto]``, latest spelling wins.

        :raises LookupError: when the log no longer reaches back to ``since``.
        """
        if since < self.log_start:
            raise LookupError(since)
        latest: dict[str, str] = {}
        for sequence, lower, display in self.changes:
            if since < sequence <= upto:
                latest[lower] = display
        return sorted(latest.items())

    # -- persistence -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "nodes": [asdict(node) for node in self.nodes.values()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Namespace:
        namespace = cls()
        for raw in sorted(data["nodes"], key=lambda item: item["path_display"].lower()):
            node = Node(**raw)
            namespace.nodes[node.path_lower] = node
            namespace.by_id[node.id] = node.path_lower
            namespace.children.setdefault(parent_path(node.path_lower), set()).add(node.path_lower)
            namespace.used += node.size
        namespace.sequence = namespace.log_start = data["sequence"]
        return namespace
