"""Running one step on several boards at once: a failure on one is reported, the others complete."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from edgeq.boards.catalog import resolve_boards
from edgeq.errors import EdgeqError

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    board: str
    value: T | None = None
    error: str | None = None
    exit_code: int = 0


def board_names(spec: str) -> list[str]:
    """`rpi4,rpi5`, a group name, or a mix; validated against the catalog."""
    return [board.name for board in resolve_boards(spec)]


def run_on_boards(names: list[str], step: Callable[[str], T], workers: int = 8) -> list[Outcome[T]]:
    """Call `step(board)` for every board in parallel threads; results in the order given.

    With one board nothing is caught: its error reaches the CLI as any error does
    (one line, or a traceback under --debug).
    """

    def one(name: str) -> Outcome[T]:
        try:
            return Outcome(name, value=step(name))
        except EdgeqError as exc:
            return Outcome(name, error=str(exc), exit_code=exc.exit_code)

    if len(names) == 1:
        return [Outcome(names[0], value=step(names[0]))]
    with ThreadPoolExecutor(max_workers=min(workers, len(names))) as pool:
        return list(pool.map(one, names))


def summary_table(rows: list[list[str]], header: list[str]) -> str:
    table = [header] + rows
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
