"""The matrix of cells a recipe asks for, and which of them the cache already answers.

A cell is one measurement: model x variant (mode) x board x backend x threads, named
`model/mode/board/backend/tN`. Planning reads the cache but builds nothing, so
`--dry-run` costs no TensorFlow and no board.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.profile import backendspec
from edgeq.boards.catalog import resolve_boards
from edgeq.boards.schema import Board
from edgeq.errors import ConfigError
from edgeq.boards.fleet import summary_table
from edgeq.quantize.sidecar import file_sha256
from edgeq.recipe.cache import CellState, cell_key
from edgeq.recipe.schema import Recipe
from edgeq.recipe.sources import Source, find_source, variant_path

__all__ = ["PlannedCell", "Plan", "make_plan", "settings_of", "work_dir_of"]


@dataclass
class PlannedCell:
    """One cell of a recipe's matrix as planned (model, mode, board, backend, threads); its outcome once run.
    report.cells.Cell is a measured cell read back from a run."""

    model: str
    mode: str
    board: str
    backend: str
    threads: int
    key: str | None = None
    """None until the cell's variant exists: its hash is part of the key."""
    cached: dict[str, Any] | None = None
    """The recorded outcome when the state file already has this cell."""

    @property
    def id(self) -> str:
        return f"{self.model}/{self.mode}/{self.board}/{self.backend}/t{self.threads}"


@dataclass
class Plan:
    recipe: Recipe
    work: Path
    boards: list[str]
    cells: list[PlannedCell]
    sources: dict[str, Source | None]
    state: CellState
    retry_failed: bool = False
    """Run again the cells whose recorded outcome is a failure (a board that was down, a fixed runtime)."""
    records: dict[str, Board] = field(default_factory=dict)
    """Boards named by labgrid tags (`labgrid:board=rpi5`): name -> the record each step leases a place for."""

    def board(self, name: str) -> str | Board:
        """What deploy and profile take for a board of this plan."""
        return self.records.get(name, name)

    def refresh(self) -> None:
        """Recompute keys and cache hits after sources or variants were built."""
        settings = settings_of(self.recipe)
        for cell in self.cells:
            source = self.sources.get(cell.model)
            path = variant_path(source, cell.mode, self.work) if source else None
            if path is None or not path.exists():
                cell.key, cell.cached = None, None
                continue
            cell.key = cell_key(file_sha256(path), cell.board, cell.backend, cell.threads, settings)
            cell.cached = self.state.done(cell.key)
            if self.retry_failed and cell.cached and cell.cached["status"] != "ok":
                cell.cached = None

    def table(self) -> str:
        rows = []
        for cell in self.cells:
            source = self.sources.get(cell.model)
            variant = source is not None and variant_path(source, cell.mode, self.work).exists()
            status = cell.cached["status"] if cell.cached else "to run"
            rows.append([cell.id, "cached" if variant else ("to quantize" if source else "to build"),
                         f"cached ({status})" if cell.cached else status])
        done = sum(1 for c in self.cells if c.cached)
        return (summary_table(rows, ["cell", "variant", "result"])
                + f"\n{len(self.cells)} cells: {done} cached, {len(self.cells) - done} to run")


def work_dir_of(recipe: Recipe) -> Path:
    return Path(recipe.work_dir).expanduser() if recipe.work_dir else Path(".edgeq") / recipe.title()


def settings_of(recipe: Recipe) -> dict[str, Any]:
    """The profiling settings a cell's result depends on."""
    return recipe.profile.model_dump()


def _boards(recipe: Recipe, place_wait_s: float = 0.0) -> tuple[list[str], dict[str, Board]]:
    from edgeq.boards import farm
    from edgeq.boards.fleet import any_place_board

    names: list[str] = []
    records: dict[str, Board] = {}
    for spec in recipe.boards:
        try:
            if spec.startswith(farm.PREFIX):
                found = [any_place_board(spec, place_wait_s)]
                records.update((b.name, b) for b in found)
            else:
                found = resolve_boards(spec)
        except ConfigError as exc:
            raise ConfigError(f"{recipe.source}: boards: {exc}") from None
        names += [b.name for b in found if b.name not in names]
    return names, records


def _check_backends(recipe: Recipe) -> None:
    for i, backend in enumerate(recipe.backend_list):
        try:
            backendspec.parse(backend.spec, where="")
        except ConfigError as exc:
            raise ConfigError(f"{recipe.source}: backends[{i}]: {exc}") from None


def make_plan(recipe: Recipe, only: str | None = None, retry_failed: bool = False,
              place_wait_s: float = 0.0) -> Plan:
    """Every cell of the recipe (those matching `only`, an fnmatch pattern on cell ids).

    retry_failed: a cell recorded as failed counts as not done, so it runs again.
    place_wait_s: how long a labgrid board waits for a place someone else holds.
    """
    _check_backends(recipe)
    boards, records = _boards(recipe, place_wait_s)
    work = work_dir_of(recipe)
    cells = [PlannedCell(m.label, mode, board, b.spec, t)
             for m in recipe.models for mode in m.modes for board in boards
             for b in recipe.backend_list for t in (b.threads or recipe.threads)]
    if only:
        cells = [c for c in cells if fnmatch.fnmatchcase(c.id, only)]
        if not cells:
            raise ConfigError(f"--only {only!r} matches no cell; cell ids look like "
                              f"{recipe.models[0].label}/{recipe.models[0].modes[0]}/{boards[0]}/"
                              f"{recipe.backend_list[0].spec}/t1")
    sources = {m.label: find_source(recipe, m, work) for m in recipe.models}
    plan = Plan(recipe, work, boards, cells, sources, CellState(work / "cells.json"), retry_failed, records)
    plan.refresh()
    return plan
