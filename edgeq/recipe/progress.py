"""A recipe's live line: the matrix done/left with an ETA, and the current cell's step (edgeq/live.py)."""

from __future__ import annotations

import time

from edgeq.live import Live


class MatrixLine:
    """done/left/ETA from the cells this run profiled (cached ones cost nothing, so they do not count)."""

    def __init__(self, total: int, live: Live | None = None) -> None:
        self.live = live or Live().__enter__()
        self._own = live is None
        self.total, self.done, self.cell = total, 0, ""
        self._ran, self._started = 0, time.monotonic()

    def step(self, cell: str, what: str) -> None:
        self.cell = cell
        left = self.total - self.done
        eta = ""
        if self._ran and left:
            seconds = (time.monotonic() - self._started) / self._ran * left
            eta = f", ETA {seconds / 60:.0f} min" if seconds >= 90 else f", ETA {seconds:.0f} s"
        self.live.update("matrix", f"{self.done} done, {left} left{eta}; {cell}: {what}")

    def advance(self, count: int = 1, ran: bool = True) -> None:
        self.done += count
        if ran:
            self._ran += count
        else:
            self._started = time.monotonic()  # cached cells took no time: the clock starts now
        self.step(self.cell, "done")

    def close(self) -> None:
        self.live.done("matrix", f"{self.done} of {self.total} cells done")
        if self._own:
            self.live.close()
