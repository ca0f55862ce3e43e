#!/usr/bin/env python
"""Seed the store's Dropbox: the same command, code and options as ``flask dropbox seed``.

Usage: python scripts/dropbox_seed.py [--album ID] [--pack SLUG] [--dry-run]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shop import create_app  # noqa: E402
from shop.dropbox.cli import seed_command  # noqa: E402


def main() -> None:
    app = create_app()
    with app.app_context():
        seed_command.main(prog_name="dropbox_seed.py")


if __name__ == "__main__":
    main()
