"""The per-process page cache: what every buyer sees alike, read once per process.

A pack's albums, tracks and file sizes are the same for every buyer and do not change once
the pack is on sale, so the store's pack page and the order page keep what they build from
them here, under a key that names the pack's catalog version
(:class:`shop.catalog.state.CatalogState`), instead of reading it on every page view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app

T = TypeVar("T")

CATALOG_CACHE_SIZE = 64
_cache_lock = threading.Lock()


def _cache(app: Flask) -> OrderedDict[tuple[object, ...], Any]:
    # Per application (tests build many apps in one process, each on its own database).
    cache: OrderedDict[tuple[object, ...], Any] = app.extensions.setdefault("shop.catalog_cache", OrderedDict())
    return cache


def cached(key: tuple[object, ...], make: Callable[[], T]) -> T:
    """``make()``, kept in this process's catalog cache under ``key`` (least recently used go first)."""
    cache = _cache(current_app)
    with _cache_lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]  # type: ignore[no-any-return]
    value = make()
    with _cache_lock:
        cache[key] = value
        while len(cache) > CATALOG_CACHE_SIZE:
            cache.popitem(last=False)
    return value


def clear_catalog_cache() -> None:
    with _cache_lock:
        _cache(current_app).clear()
