"""Whole-state snapshots, to prove that a command changed nothing."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from shop.extensions import db


def database_rows() -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    db.session.expire_all()
    rows = {}
    for table in db.metadata.sorted_tables:
        query = select(table).order_by(*table.primary_key.columns)
        rows[table.name] = [tuple(row) for row in db.session.execute(query)]
    db.session.rollback()
    return rows


def storage_files(app: Flask) -> dict[str, tuple[int, int]]:
    """``{key: (size, mtime_ns)}`` under the media root: a rewritten blob changes its mtime."""
    root = Path(app.config["MEDIA_ROOT"])
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def snapshot(app: Flask) -> tuple[dict, dict]:
    return database_rows(), storage_files(app)


def count_rows() -> dict[str, int]:
    return {name: len(rows) for name, rows in database_rows().items()}
