"""The docs stay true to the tree: every ``shop/…`` path they name exists, and the
architecture page gives every package of ``shop/`` its floor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_layers import FLOORS

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# `shop/x/y.py`, `shop/x/`, `shop/x.py` written in backticks or plain text.
SHOP_PATH = re.compile(r"(?<![\w/.])shop/[A-Za-z0-9_/]+(?:\.py|/)?")


def named_paths(text: str) -> set[str]:
    return {m.group(0).rstrip("/.") for m in SHOP_PATH.finditer(text)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_shop_path_named_in_the_docs_exists(doc: Path) -> None:
    missing = sorted(p for p in named_paths(doc.read_text()) if not (ROOT / p).exists())
    assert missing == [], f"{doc.name} names paths that do not exist: {missing}"


def test_the_architecture_page_names_every_package_with_its_floor() -> None:
    text = ARCHITECTURE.read_text()
    packages = {p.name for p in (ROOT / "shop").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for package in sorted(packages | {unit for unit in FLOORS if unit != "worker"}):
        row = re.search(rf"^\|\s*(\d+)\s*\|\s*`shop/{package}/`", text, re.MULTILINE)
        assert row, f"docs/architecture.md has no floor row for shop/{package}/"
        assert int(row.group(1)) == FLOORS[package], f"tests/test_layers.py puts shop/{package}/ on {FLOORS[package]}"


def test_the_checker_reads_paths_as_written() -> None:
    text = "see `shop/dropbox/jobs.py`, shop/store/ and shop/models.py. Not ./shop/x or myshop/y."
    assert named_paths(text) == {"shop/dropbox/jobs.py", "shop/store", "shop/models.py"}
