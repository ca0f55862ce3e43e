"""The README's screenshots, from the browser tests' artifacts.

``tests/browser/test_accessibility.py`` saves a full-page screenshot of each page it audits
under ``artifacts/browser/accessibility/<viewport>/``. This keeps the first screen of the
desktop ones for home, a pack, an order and a policy page, at half size, as WebP in
``docs/screenshots/`` (a few tens of KB each, so the repository stays small). Run it after
the browser test, when a page's look changed:

    env -u TEST_DATABASE_URL .venv/bin/python -m pytest tests/browser/test_accessibility.py -q
    .venv/bin/python scripts/readme_screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "artifacts" / "browser" / "accessibility" / "desktop"
TARGET = ROOT / "docs" / "screenshots"
PAGES = ("home", "pack", "order", "policy")
#: The first screen of a 1280 px wide page, kept at half size.
CROP = (1280, 1000)
SCALE = 0.5


def main() -> int:
    missing = [name for name in PAGES if not (SOURCE / f"{name}.png").exists()]
    if missing:
        print(f"no screenshot of {', '.join(missing)} in {SOURCE}: run tests/browser/test_accessibility.py first")
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        with Image.open(SOURCE / f"{name}.png") as shot:
            width, height = min(CROP[0], shot.width), min(CROP[1], shot.height)
            first_screen = shot.convert("RGB").crop((0, 0, width, height))
            small = first_screen.resize((round(width * SCALE), round(height * SCALE)), Image.Resampling.LANCZOS)
            out = TARGET / f"{name}.webp"
            small.save(out, "WEBP", quality=82, method=6)
            print(f"{out.relative_to(ROOT)}: {small.width}×{small.height}, {out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
