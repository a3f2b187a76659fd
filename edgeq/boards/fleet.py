"""Running one step on several boards at once: a failure on one is reported, the others complete."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from edgeq.boards.catalog import resolve_boards
from edgeq.boards.schema import Board
from edgeq.errors import ConfigError, EdgeqError

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


def board_records(spec: str, count: int | None = None, place_wait_s: float | None = None) -> dict[str, Board]:
    """Name -> record for a board spec that may hold `labgrid:TAGS` tokens (one record per free place).

    `count` takes the first N matching places of each labgrid token; `place_wait_s` overrides how long
    any labgrid board waits for a place someone else holds.
    """
    from edgeq.boards import farm

    if count is not None and count < 1:
        raise ConfigError("--count must be at least 1")
    records: dict[str, Board] = {}
    tokens = [token.strip() for token in spec.split(",") if token.strip()]
    named = [token for token in tokens if not token.startswith(farm.PREFIX)]
    for board in resolve_boards(named) if named else []:
        records[board.name] = board
    for token in tokens:
        if token.startswith(farm.PREFIX):
            records.update((b.name, b) for b in farm.boards_for(token, count, place_wait_s or 0.0))
    if place_wait_s is not None:
        for name, board in records.items():
            if board.connection.kind == "labgrid":
                update = {"connection": board.connection.model_copy(update={"wait_s": place_wait_s})}
                records[name] = board.model_copy(update=update)
    return records


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
