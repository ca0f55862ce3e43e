"""The floor plan: no folder of ``shop/`` imports a folder above it, and no folder cycle.

Every import inside ``shop/`` (module level or inside a function) is read from the source
with :mod:`ast`, reduced to the folder it comes from and the folder it reaches, and checked
against the floors below. A new package must be given a floor here, so adding one is a
decision, not an accident.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

SHOP = Path(__file__).resolve().parent.parent / "shop"

# Higher floors may import lower ones. Same floor: only itself.
FLOORS: dict[str, int] = {
    "admin": 90,  # the operator console: uses everything, nothing imports it
    "worker": 80,  # the RQ entry point (shop/worker.py)
    "store": 70,
    "statements": 65,  # an artist's statements behind a private link, statement mails, `flask artists`
    "payouts": 65,  # paying artists: Connect onboarding, the payout run, manual payouts (Stripe via payments)
    "payments": 60,
    "codes": 55,  # download codes: a redemption is an order with its receipt
    "orders": 50,
    "gifts": 45,  # a gift is an order's second person: orders and the store use it
    "mailing": 45,  # the "next pack" list and its announcements
    "downloads": 40,
    "dropbox": 40,
    "catalog": 30,
    "ledger": 25,  # the money owed to artists, the charity and the store: payments post to it
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


# -- RQ job paths ---------------------------------------------------------------------------
# A job is named by a dotted-path string, which no import checker sees: the worker
# (shop/worker.py) imports the job's module when it runs it. So the module must exist, hold the
# function, and sit on a floor the worker may import.

WORKER = "worker"


def job_paths(source: str) -> set[str]:
    """The ``shop.…`` job paths a module names: ``JOB_FUNCTION = "shop.…"`` and ``enqueue("shop.…", …)``."""
    paths: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "JOB_FUNCTION"
                                                for t in node.targets):
            value = node.value
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name == "enqueue":
                value = node.args[0]
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.startswith("shop."):
            paths.add(value.value)
    return paths


def all_job_paths() -> set[str]:
    return {path for file in SHOP.rglob("*.py") for path in job_paths(file.read_text())}


def worker_may_run(job_path: str) -> bool:
    """Whether the worker may import the job's module, by the same rule as any import."""
    target = job_path.split(".")[1]  # a package, or a ground-floor module
    return floor(WORKER) > floor(target) or (floor(WORKER) == floor(target) == GROUND)


def test_jobs_are_found() -> None:
    paths = all_job_paths()
    assert "shop.dropbox.jobs.run_delivery" in paths and "shop.dropbox.seed.seed_albums" in paths


@pytest.mark.parametrize("job_path", sorted(all_job_paths()))
def test_job_paths_name_a_function_the_worker_may_import(job_path: str) -> None:
    module_name, _, function = job_path.rpartition(".")
    assert worker_may_run(job_path), (
        f"{job_path} lives above the worker's floor ({floor(WORKER)}): move the job's body down "
        "and keep only the enqueueing up there"
    )
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function, None)), f"{job_path} names no function"


def test_the_job_path_checker_sees_both_spellings_and_refuses_the_console() -> None:
    source = (
        'JOB_FUNCTION = "shop.admin.seeding.seed_albums"\n'
        "def f(queue):\n"
        '    queue.enqueue("shop.catalog.jobs.encode_track", 1)\n'
        '    enqueue("shop.orders.mail.send", 2)\n'
        '    enqueue(JOB_FUNCTION, 3)\n'
    )
    assert job_paths(source) == {"shop.admin.seeding.seed_albums", "shop.catalog.jobs.encode_track",
                                 "shop.orders.mail.send"}
    assert not worker_may_run("shop.admin.seeding.seed_albums")
    assert worker_may_run("shop.dropbox.seed.seed_albums") and worker_may_run("shop.mail.send")


# The demo synthesiser and the preview compute on samples; a web process never does.
WEB_UNNEEDED = ("numpy", "soundfile")


def test_a_web_process_does_not_load_numpy(tmp_path: Path) -> None:
    """In a fresh interpreter (this one has numpy loaded already), creating the app loads none
    of the sample-crunching libraries: they are imported where a preview or the demo is made."""
    config = {"TESTING": True, "ENV": "testing", "SECRET_KEY": "x", "MAIL_URL": None,
              "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'shop.sqlite3'}",
              "MEDIA_ROOT": str(tmp_path / "media"), "OUTBOX_DIR": str(tmp_path / "outbox")}
    script = (
        "import sys\n"
        "from shop import create_app\n"
        f"create_app({config!r})\n"
        f"print(sorted(name for name in {WEB_UNNEEDED!r} if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=SHOP.parent, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"create_app() loaded {done.stdout.strip()}"
