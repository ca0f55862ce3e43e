"""Run an emulator as ``python -m <module>`` on a free port, for tests and scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType


class EmulatorProcess:
    """Start ``python -m <module> --host 127.0.0.1 --port 0 <args>``; learn the URL from the
    first stdout line (``... listening on http://HOST:PORT``). A context manager.

    :param module: ``"stripe_emulator"`` or ``"dropbox_emulator"``.
    :param args: more command-line arguments.
    """

    def __init__(self, module: str, args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, startup_timeout: float = 20.0) -> None:
        self.args = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", "0", *args]
        project_root = str(Path(__file__).resolve().parent.parent)
        self.env = dict(env if env is not None else os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (project_root, self.env.get("PYTHONPATH")) if p)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[str] | None = None
        self.first_line = ""
        self.base_url = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def readline(self, timeout: float = 10.0) -> str:
        """The next stdout line ("" at end of output or after ``timeout``)."""
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return line[0] if line else ""

    def start(self) -> EmulatorProcess:
        self.process = subprocess.Popen(self.args, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        self.first_line = self.readline(self.startup_timeout)
        if "http://" not in self.first_line:
            self.stop()
            raise RuntimeError(f"emulator did not start: {self.first_line!r}")
        self.base_url = self.first_line.strip().rsplit(" ", 1)[1]
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
