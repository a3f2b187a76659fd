"""A profile's pins and threads, checked against the board's facts before anything is sent
(the numbers themselves are checked by edgeq.settings.Settings).

A value that reached the board used to fail there (a NaN as a run count, a core that does not
exist) as a traceback of the agent's; here it is one line, exit 2.
"""

from __future__ import annotations

from typing import Any

from edgeq.agent.records import Job
from edgeq.boards.schema import Board
from edgeq.errors import ConfigError

__all__ = ["check_on_board"]


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
