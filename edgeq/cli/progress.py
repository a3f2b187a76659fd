"""A transfer progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


class TransferBar:
    """Callable as a transport Progress: (bytes done, bytes total) of the current file."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.width = width
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = int(self.width * done / total)
        line = (f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{done / 2**20:7.1f}/{total / 2**20:.1f} MB")
        with self._lock:
            self.stream.write(line + ("\n" if done >= total else ""))
            self.stream.flush()


class PhaseLine:
    """Callable as a profile Watch: one status line with each backend's phase (by label)."""

    def __init__(self, board: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.board = board
        self._last = ""

    def __call__(self, phases: dict[str, str]) -> None:
        line = f"{self.board}: " + ", ".join(f"{name} {phase}" for name, phase in phases.items())
        if self.enabled and line != self._last:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            self._last = line
