"""Benchmark: the whole test suite as CI runs it, one revision against another (issue 20).

Each revision is cloned fresh from this repository into a temporary folder, with the shared
docs beside it as CI has them, and runs ``CI=true bash .ci/run`` (``make test`` on SQLite and
the local PostgreSQL: creating the virtual environment, installing, the browser journeys and
the several-hosts test included). The revisions run one after the other, never side by side
(two suites on two cores would time each other), in the order given; ``--hog N`` runs
``stress-ng --cpu N`` beside every run, to show the suite holding on a busy machine.

Reported per run: the wall time of ``.ci/run``, pytest's own time, the counts of passed,
failed and skipped tests, and how many distinct tests ran (a test id without its database:
``test_x[sqlite]`` and ``test_x[postgresql]`` are one test, run twice).

    .venv/bin/python -m bench.suite --rev 4807b54 --rev main [--hog 2] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SUMMARY = re.compile(r"=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s")


@dataclass(frozen=True)
class Run:
    rev: str
    exit_code: int
    wall_seconds: float
    pytest_seconds: float
    counts: dict[str, int]
    runs: int
    distinct: int

    def row(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.counts.items())
        return (f"| {self.rev} | {self.exit_code} | {self.wall_seconds:,.0f} s | {self.pytest_seconds:,.0f} s | "
                f"{counts} | {self.runs:,} | {self.distinct:,} |")


def without_database(name: str) -> str:
    """A test id without its database parameter: ``t[sqlite-x]`` and ``t[x-postgresql]`` are ``t[x]``."""
    base, bracket, params = name.partition("[")
    kept = [part for part in params.removesuffix("]").split("-") if part not in ("sqlite", "postgresql")]
    return f"{base}[{'-'.join(kept)}]" if bracket and kept else base


def distinct_tests(junit: Path) -> tuple[int, int]:
    """``(runs, distinct tests)`` in a JUnit report."""
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    return len(cases), len({(case.get("classname"), without_database(case.get("name", ""))) for case in cases})


def run_suite(rev: str, folder: Path, hog: int) -> Run:
    clone = folder / "ci"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
    if SHARED.exists():
        (folder / "shared").symlink_to(SHARED)
    junit = folder / "junit.xml"
    log = folder / "ci.log"
    stress = subprocess.Popen(["stress-ng", "--cpu", str(hog), "--quiet"]) if hog else None
    started = time.monotonic()
    try:
        with log.open("wb") as out:
            exit_code = subprocess.run(
                ["bash", ".ci/run"], cwd=clone, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "CI": "true", "PYTEST_ARGS": f"--junitxml={junit}"},
            ).returncode
    finally:
        wall = time.monotonic() - started
        if stress is not None:
            stress.terminate()
            stress.wait()
    tail = log.read_text(errors="replace")[-4000:]
    matches = list(SUMMARY.finditer(tail))
    match = matches[-1] if matches else None
    counts: dict[str, int] = {}
    seconds = 0.0
    if match is not None:
        seconds = float(match["seconds"])
        for part in match["counts"].split(", "):
            number, _, what = part.partition(" ")
            if number.isdigit():
                counts[what] = int(number)
    runs, distinct = distinct_tests(junit) if junit.exists() else (0, 0)
    return Run(rev, exit_code, wall, seconds, counts, runs, distinct)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", action="append", required=True, help="a revision to time (give two or more)")
    parser.add_argument("--hog", type=int, default=0, help="run stress-ng --cpu N beside each suite")
    parser.add_argument("--keep", action="store_true", help="keep the clones and logs")
    args = parser.parse_args()
    if args.hog and shutil.which("stress-ng") is None:
        parser.error("--hog needs stress-ng (apt-get install stress-ng)")
    print("| revision | exit | wall | pytest | tests | runs | distinct tests |")
    print("|---|---:|---:|---:|---|---:|---:|")
    failed = False
    for rev in args.rev:
        folder = Path(tempfile.mkdtemp(prefix="suite-"))
        try:
            result = run_suite(rev, folder, args.hog)
        finally:
            if args.keep:
                print(f"kept: {folder}", file=sys.stderr)
            else:
                shutil.rmtree(folder, ignore_errors=True)
        print(result.row(), flush=True)
        failed = failed or result.exit_code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
