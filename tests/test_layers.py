"""The floor plan: no folder of ``shop/`` imports a folder above it, and no folder cycle.

Every import inside ``shop/`` (module level or inside a function) is read from the source
with :mod:`ast`, reduced to the folder it comes from and the folder it reaches, and checked
against the floors below. A new package must be given a floor here, so adding one is a
decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHOP = Path(__file__).resolve().parent.parent / "shop"

# Higher floors may import lower ones. Same floor: only itself.
FLOORS: dict[str, int] = {
    "admin": 90,  # the operator console: uses everything, nothing imports it
    "worker": 80,  # the RQ entry point (shop/worker.py)
    "store": 70,
    "payments": 60,
    "codes": 55,  # download codes: a redemption is an order with its receipt
    "orders": 50,
    "gifts": 45,  # a gift is an order's second person: orders and the store use it
    "mailing": 45,  # the "next pack" list and its announcements
    "downloads": 40,
    "dropbox": 40,
    "catalog": 30,
    "storage": 10,
}
GROUND = 20  # single modules at the top of shop/: models, order_links, urls, mail, ...
# The factory wires every blueprint and command together; it is the building, not a floor.
EXEMPT = {"__init__"}


def unit_of(path: Path) -> str:
    relative = path.relative_to(SHOP)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def floor(unit: str) -> int:
    return FLOORS.get(unit, GROUND)


def imported_units(source: str, package: str) -> set[str]:
    """The units of ``shop`` that a module of ``package`` imports, wherever the import sits."""
    units: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [module] if module != "shop" else [f"shop.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "shop" and len(parts) > 1:
                units.add(parts[1])
    return units


def edges() -> set[tuple[str, str]]:
    found = set()
    for path in SHOP.rglob("*.py"):
        source = unit_of(path)
        if source in EXEMPT:
            continue
        package = ".".join(path.relative_to(SHOP.parent).with_suffix("").parts[:-1])
        for target in imported_units(path.read_text(), package):
            if target != source:
                found.add((source, target))
    return found


def test_every_package_has_a_floor() -> None:
    packages = {p.name for p in SHOP.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(FLOORS), f"give these packages a floor in FLOORS: {sorted(packages - set(FLOORS))}"


@pytest.mark.parametrize("source, target", sorted(edges()))
def test_imports_only_run_down(source: str, target: str) -> None:
    assert floor(source) > floor(target) or (floor(source) == floor(target) == GROUND), (
        f"shop/{source} (floor {floor(source)}) imports shop/{target} (floor {floor(target)}): "
        "move the shared piece down instead"
    )


def test_no_folder_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for source, target in edges():
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted({tuple(sorted((a, b))) for a, b in edges() if reaches(b, a, {b})})
    assert cycles == []


def test_the_checker_sees_every_kind_of_import() -> None:
    """Absolute, relative, ``from shop import x`` and function-level imports all count."""
    source = (
        "import shop.models\n"
        "from shop import mail\n"
        "def f():\n"
        "    from shop.orders import page\n"
        "    from .. import store\n"
        "    from .streaming import ByteSource\n"
    )
    assert imported_units(source, "shop.downloads") == {"models", "mail", "orders", "store", "downloads"}
    assert floor("orders") > floor("downloads")
