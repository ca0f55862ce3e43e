"""One JSON file holding an emulator's state, replaced atomically on every save."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JsonStateFile:
    """``load()`` what the last ``save()`` wrote; a crash mid-save leaves the old file intact.

    :param path: the file (its folder is created).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> Any | None:
        """The saved value, or ``None`` when nothing was saved yet."""
        if not self.path.exists():
            return None
        return json.loads(self.path.read_text("utf-8"))

    def save(self, data: Any) -> None:
        temp = self.path.with_suffix(self.path.suffix + ".tmp")
        temp.write_text(json.dumps(data), "utf-8")
        os.replace(temp, self.path)
