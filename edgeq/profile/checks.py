"""The numbers a profile takes, checked at the edge: before anything is sent, and against the board's facts.

A value that reached the board used to fail there (a NaN as a run count, a core that does not
exist) as a traceback of the agent's; here it is one line, exit 2.
"""

from __future__ import annotations

import math
from typing import Any

from edgeq.agent.records import Job
from edgeq.boards.schema import Board
from edgeq.errors import ConfigError

__all__ = ["MAX_THREADS", "check_on_board", "check_settings"]


MAX_THREADS = 1024
"""Far above any board's cores: a typo (10000) is refused before the board is asked."""


def check_settings(*, threads: int, runs: int, warmup: int, seed: int, seconds: dict[str, float | None]) -> None:
    """Every number a profile takes, checked before anything is sent: finite, whole where it counts, in range.

    `seconds` maps a flag (--timeout, --min-seconds, ...) to its value; --timeout must be > 0, the others >= 0.
    """
    for flag, value, low, high in (("--threads", threads, 1, MAX_THREADS), ("--runs", runs, 1, None),
                                   ("--warmup", warmup, 0, None), ("--seed", seed, 0, 2**63 - 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bound = f"from {low} to {high}" if high else f">= {low}"
            raise ConfigError(f"{flag} {value!r}: expected a whole number {bound}")
    for flag, number in seconds.items():
        if number is None:
            continue
        positive = flag == "--timeout"
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or (
                number <= 0 if positive else (number < 0 and flag != "--cooldown-to")):
            raise ConfigError(f"{flag} {number!r}: expected a finite number"
                              f"{' > 0' if positive else '' if flag == '--cooldown-to' else ' >= 0'}")


def check_on_board(record: Board, job: Job, facts: dict[str, Any], force_threads: bool) -> None:
    """Pins and threads against the cores the board reports (its facts), not only those its record lists."""
    cpu = facts.get("cpu") or {}
    ids = sorted({int(c["id"]) for c in cpu.get("cores") or [] if isinstance(c.get("id"), int)})
    count = int(cpu.get("count") or len(ids) or 0)
    ids = ids or list(range(count))
    missing = [c for c in job.cores or [] if ids and c not in ids]
    if missing:
        raise ConfigError(f"--pin: board {record.name} has no core {missing[0]} (its cores: "
                          f"{', '.join(map(str, ids))})")
    if count and job.threads > count and not force_threads:
        raise ConfigError(f"--threads {job.threads}: board {record.name} has {count} cores; "
                          f"more threads than cores only add contention (add --force-threads to run anyway)")
