"""A profile's pins, threads and reference model, checked against the board and model before anything is sent
(the numbers themselves are checked by edgeq.settings.Settings).

A value that reached the board used to fail there (a NaN as a run count, a core that does not
exist) as a traceback of the agent's; here it is one line, exit 2.
"""

from __future__ import annotations

from typing import Any

from edgeq.agent.records import Job
from edgeq.boards.schema import Board
from edgeq.errors import ConfigError
from edgeq.model.reader import ModelInfo

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


def check_reference(info: ModelInfo, ref: ModelInfo) -> None:
    """A reference must take and give the same shapes, or its outputs mean nothing here."""
    ours = ([s.shape for s in info.inputs], [s.shape for s in info.outputs])
    theirs = ([s.shape for s in ref.inputs], [s.shape for s in ref.outputs])
    if ours != theirs:
        raise ConfigError(f"--reference {ref.path}: its inputs/outputs {theirs} do not match the model's {ours}")


def resolve_cores(board: Board, pin: str | None) -> list[int] | None:
    """`big`, `little` (a cluster name) or `0,1,2` -> core ids; None leaves the scheduler alone."""
    if not pin:
        return None
    clusters = {c.name: list(c.cores) for c in board.cpu.clusters} if board.cpu else {}
    if pin in clusters:
        return clusters[pin]
    try:
        cores = [int(p) for p in pin.split(",") if p.strip()]
    except ValueError:
        choices = ", ".join(sorted(clusters)) or "(this board names no clusters)"
        raise ConfigError(f"--pin {pin!r}: expected a cluster name or core ids like 0,1. Choose from: {choices}") from None
    known = {c for ids in clusters.values() for c in ids}
    unknown = [c for c in cores if known and c not in known]
    if unknown:
        raise ConfigError(f"--pin: board {board.name} has no core {unknown[0]} (cores: {sorted(known)})")
    return cores
