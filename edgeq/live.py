"""Live output on stderr while a command works: a terminal gets lines that redraw, a log gets lines.

In a terminal (stderr is a tty) one rich line per board or step redraws in place: the
backend phases in the user's spelling, transfers with bytes and rate, a recipe's
done/left/ETA. The lines are transient: they are cleared when the work ends, so the
table printed afterwards stands alone. Without a terminal (CI, `2> log`) every change
is one plain line with a UTC timestamp, and a line every EVERY_S seconds says what is
still going on, so a long step is never silent; no control characters are written.
`quiet` writes nothing. rich honours NO_COLOR by itself.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, TextIO

__all__ = ["EVERY_S", "Live", "Transfer", "human_bytes"]

EVERY_S = 5.0
"""Seconds between "still ..." lines in a log: often enough that CI never looks hung.
EDGEQ_LOG_EVERY_S overrides it."""


def _every_s() -> float:
    try:
        return max(float(os.environ.get("EDGEQ_LOG_EVERY_S", EVERY_S)), 0.2)
    except ValueError:
        return EVERY_S

Transfer = Callable[[int, int], None]
"""(bytes done, bytes total) of the file being sent, as a transport reports them."""


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


class Live:
    """One command's live output. Use as a context manager; callbacks are thread-safe."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, every_s: float | None = None) -> None:
        self.stream = stream or sys.stderr
        tty = hasattr(self.stream, "isatty") and self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.mode = "quiet" if quiet else ("terminal" if tty else "log")
        self.every_s = every_s or _every_s()
        self._lock = threading.Lock()
        self._state: dict[str, tuple[str, float, float]] = {}  # who -> (text, since, last line written)
        self._tasks: dict[str, Any] = {}
        self._progress: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Live:
        if self.mode == "terminal":
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                      console=console, transient=True, refresh_per_second=8)
            self._progress.start()
        elif self.mode == "log":
            self._ticker = threading.Thread(target=self._tick, name="edgeq-live", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Clear the live lines (terminal) or stop the "still" lines (log); idempotent."""
        self._stop.set()
        if self._progress is not None:
            self._progress.stop()  # transient: the lines are erased, the cursor is back where they began
            self._progress = None
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None

    def update(self, who: str, text: str) -> None:
        """`who` (a board, a cell, a step) is now doing `text`."""
        now = time.monotonic()
        with self._lock:
            old = self._state.get(who)
            if old and old[0] == text:
                return
            self._state[who] = (text, now, now)
            if self.mode == "terminal" and self._progress is not None:
                line = f"[bold]{_escape(who)}[/]: {_escape(text)}"
                if who in self._tasks:
                    self._progress.update(self._tasks[who], description=line)
                else:
                    self._tasks[who] = self._progress.add_task(line, total=None)
            elif self.mode == "log":
                self._write(f"{who}: {text}")

    def done(self, who: str, text: str | None = None) -> None:
        """`who` has finished: its live line goes (a log gets `text`, if given)."""
        with self._lock:
            self._state.pop(who, None)
            task = self._tasks.pop(who, None)
            if task is not None and self._progress is not None:
                self._progress.remove_task(task)
            if text and self.mode == "log":
                self._write(f"{who}: {text}")

    def note(self, text: str) -> None:
        """A line that stays (a warning, a hint): above the live lines in a terminal."""
        if self.mode == "quiet":
            return
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False, highlight=False)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()

    def transfer(self, who: str) -> Transfer:
        """A transport progress callback: bytes sent and the rate, per file."""
        start = {"t": time.monotonic(), "last": -1}

        def report(done: int, total: int) -> None:
            if done < start["last"] or start["last"] < 0:
                start["t"] = time.monotonic()
            start["last"] = done
            elapsed = max(time.monotonic() - start["t"], 1e-6)
            rate = f", {human_bytes(done / elapsed)}/s" if done and elapsed > 0.05 else ""
            if done >= total:
                self.update(who, f"sent {human_bytes(total)}{rate}")
            elif self.mode == "terminal":
                self.update(who, f"sending {human_bytes(done)} of {human_bytes(total)}{rate}")
            else:  # a log gets the file when it is sent; the ticker says so if that takes long
                self._quiet_update(who, f"sending {human_bytes(done)} of {human_bytes(total)}{rate}")

        return report

    def phases(self, who: str) -> Callable[[dict[str, str]], None]:
        """A profile watch callback: {backend as the user wrote it: phase}; shows every backend seen."""
        seen: dict[str, str] = {}

        def report(phases: dict[str, str]) -> None:
            seen.update(phases)
            self.update(who, ", ".join(f"{label} {what}" for label, what in seen.items()))

        return report

    def _quiet_update(self, who: str, text: str) -> None:
        """Change the state without a log line: the ticker reports it if it lasts."""
        with self._lock:
            old = self._state.get(who)
            since, written = (old[1], old[2]) if old else (time.monotonic(), time.monotonic())
            self._state[who] = (text, since, written)

    def _tick(self) -> None:
        while not self._stop.wait(min(self.every_s, 1.0)):
            now = time.monotonic()
            with self._lock:
                for who, (text, since, written) in list(self._state.items()):
                    if now - written >= self.every_s:
                        self._write(f"{who}: still {text} ({now - since:.0f} s)")
                        self._state[who] = (text, since, now)

    def _write(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%SZ")
        self.stream.write(f"{stamp} {_plain(text)}\n")
        self.stream.flush()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _plain(text: str) -> str:
    """No control characters in a log: a runtime's message may carry any."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
