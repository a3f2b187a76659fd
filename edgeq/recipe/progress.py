"""One status line on stderr for a recipe: a bar for the matrix and the current cell's step."""

from __future__ import annotations

import sys
from typing import TextIO


class MatrixLine:
    """Drawn only when the stream is a terminal; a log file gets nothing half-written."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total, self.done, self.width = total, 0, width
        self.cell = ""

    def step(self, cell: str, what: str) -> None:
        self.cell = cell
        if not self.enabled:
            return
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r\033[K[{bar}] {self.done}/{self.total} {cell}: {what}")
        self.stream.flush()

    def advance(self, count: int = 1) -> None:
        self.done += count
        self.step(self.cell, "done")

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
