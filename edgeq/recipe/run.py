"""`run_recipe`: plan, build and quantize (cached), deploy in parallel, profile each cell, report.

Profiling is one agent call per (variant, board, threads) with all of that board's
backends, which is how the agent works: each backend in its own child process, so a
crashing backend fails its own cell only. Every cell's outcome goes to the state file
as soon as it is known; a KeyboardInterrupt therefore loses only the profile in flight.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Callable

from edgeq.agent.wire import RECIPE_RUN
from edgeq.deploy.plan import deploy
from edgeq.errors import EXIT_CHECK_FAILED, ConfigError, EdgeqError
from edgeq.extras import needs_text
from edgeq.live import Live
from edgeq.boards.fleet import run_on_boards
from edgeq.profile.run import profile
from edgeq.recipe.needs import missing_needs, needs
from edgeq.recipe.plan import Plan, PlannedCell, make_plan
from edgeq.recipe.progress import MatrixLine
from edgeq.recipe.schema import load_recipe
from edgeq.recipe.sources import Source, build_source, make_variants, variant_path

__all__ = ["RecipeRun", "run_recipe"]

OnCell = Callable[[PlannedCell, dict[str, Any]], None]
"""Called after each cell's outcome is in the state file (tests interrupt runs from here)."""


@dataclass
class RecipeRun:
    plan: Plan
    run_dir: Path | None = None
    """`runs/<recipe>-<UTC>/`; None for a dry run."""
    reports: list[Path] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    """sources_built, variants_quantized, cells_profiled, cells_cached, cells_failed, files_deployed."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage: build, deploy, profile, report."""
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PlannedCell]:
        return [c for c in self.plan.cells if c.cached and c.cached["status"] != "ok"]

    @property
    def checks_failed(self) -> list[PlannedCell]:
        """Cells that ran but failed a check the recipe asks for (profile: strict, require_full_delegation)."""
        return [c for c in self.plan.cells if c.cached and c.cached.get("check")]


def run_recipe(path: Path, only: str | None = None, dry_run: bool = False,
               on_cell: OnCell | None = None, retry_failed: bool = False, place_wait_s: float = 0.0,
               live: Live | None = None) -> RecipeRun:
    """Run a recipe's whole matrix: quantize, deploy, profile every cell, write one run folder and the report.

    Cells already done are reused, failed ones too unless retry_failed.
    """
    plan = make_plan(load_recipe(path), only, retry_failed, place_wait_s)
    print(plan.table())
    run = RecipeRun(plan, counters=dict.fromkeys(
        ("sources_built", "variants_quantized", "cells_profiled", "cells_cached", "cells_failed", "files_deployed"), 0))
    absent = missing_needs(plan)
    if dry_run:
        for step, modules in needs(plan).items():
            gap = absent.get(step)
            print(f"needs: {step}: {', '.join(modules)}" + (f"; MISSING {needs_text(gap)}" if gap else ""))
        return run
    if absent:
        step, modules = next(iter(absent.items()))
        raise ConfigError(f"{path}: {step} needs {needs_text(modules)}"
                          + (f" ({len(absent) - 1} more steps need it too)" if len(absent) > 1 else ""))
    plan.work.mkdir(parents=True, exist_ok=True)
    run.counters["cells_cached"] = sum(1 for c in plan.cells if c.cached)
    line = MatrixLine(len(plan.cells), live)
    line.advance(run.counters["cells_cached"], ran=False)
    try:
        _timed(run, "build", lambda: _build(plan, run, line))
        pending = [c for c in plan.cells if not c.cached]
        _timed(run, "deploy", lambda: _deploy(plan, pending, run, line))
        _timed(run, "profile", lambda: _profile(plan, pending, run, line, on_cell))
    except KeyboardInterrupt:
        line.close()
        done = sum(1 for c in plan.cells if c.cached)
        print(f"edgeq run: stopped after {done} of {len(plan.cells)} cells; run it again to resume", file=sys.stderr)
        raise
    line.close()
    _timed(run, "report", lambda: _write(plan, run))
    return run


def _timed(run: RecipeRun, stage: str, step: Callable[[], None]) -> None:
    started = time.perf_counter_ns()
    step()
    run.seconds[stage] = (time.perf_counter_ns() - started) / 1e9


def _build(plan: Plan, run: RecipeRun, line: MatrixLine) -> None:
    """Build zoo sources and quantize the variants that pending cells need."""
    failed: dict[tuple[str, str], str] = {}
    for entry in plan.recipe.models:
        modes = [m for m in entry.modes if any(c.model == entry.label and c.mode == m and not c.cached
                                               for c in plan.cells)]
        if not modes:
            continue
        if plan.sources[entry.label] is None:
            line.step(entry.label, "building")
            plan.sources[entry.label] = build_source(plan.recipe, entry, plan.work)
            run.counters["sources_built"] += 1
        source = plan.sources[entry.label]
        assert source is not None
        missing = [m for m in modes if not variant_path(source, m, plan.work).exists()]
        if missing:
            line.step(entry.label, f"quantizing {', '.join(missing)}")
            failed.update(_quantize(source, missing, plan, run))
    plan.refresh()
    run.counters["cells_cached"] = sum(1 for c in plan.cells if c.cached)
    for cell in plan.cells:
        if (cell.model, cell.mode) in failed:
            _note_outcome(plan, cell, {"status": "failed", "reason": failed[cell.model, cell.mode]}, run, line, None)


def _quantize(source: Source, modes: list[str], plan: Plan, run: RecipeRun) -> dict[tuple[str, str], str]:
    """One TensorFlow child for all modes; when it fails, each mode alone, so one bad mode fails only its cells."""
    try:
        run.notes += make_variants(source, modes, plan.work)
        run.counters["variants_quantized"] += len(modes)
        return {}
    except EdgeqError as exc:
        if len(modes) == 1:
            return {(source.entry.label, modes[0]): f"quantize: {exc}"}
    failed: dict[tuple[str, str], str] = {}
    for mode in modes:
        failed.update(_quantize(source, [mode], plan, run))
    return failed


def _deploy(plan: Plan, pending: list[PlannedCell], run: RecipeRun, line: MatrixLine) -> None:
    """Send each board what its pending cells need, boards in parallel; a board that fails fails its cells."""
    boards = sorted({c.board for c in pending}, key=plan.boards.index)

    def one(board: str) -> Any:
        line.step(board, "deploying")
        models = sorted({_variant(plan, c) for c in pending if c.board == board})
        return deploy(plan.board(board), models)

    for outcome in run_on_boards(boards, one) if boards else []:
        if outcome.error:
            for cell in [c for c in pending if c.board == outcome.board]:
                _note_outcome(plan, cell, {"status": "failed", "reason": f"deploy: {outcome.error}"}, run, line, None)
        else:
            run.counters["files_deployed"] += outcome.value.files_sent


def _variant(plan: Plan, cell: PlannedCell) -> Path:
    source = plan.sources[cell.model]
    assert source is not None
    return variant_path(source, cell.mode, plan.work)


def _profile(plan: Plan, pending: list[PlannedCell], run: RecipeRun, line: MatrixLine, on_cell: OnCell | None) -> None:
    settings = plan.recipe.profile
    key = lambda c: (c.model, c.mode, c.board, c.threads)  # noqa: E731
    for (_, _, board, threads), group in groupby(sorted(pending, key=key), key=key):
        cells = [c for c in group if not c.cached]  # a failed deploy already recorded them
        if not cells:
            continue
        line.step(cells[0].id.rsplit("/", 2)[0], "profiling")
        try:
            result = profile(_variant(plan, cells[0]), plan.board(board), [c.backend for c in cells],
                             settings.settings(threads), runs_dir=plan.work / "runs",
                             watch=lambda phases: line.step(line.cell, ", ".join(f"{k} {v}" for k, v in phases.items())))
        except EdgeqError as exc:
            for cell in cells:
                _note_outcome(plan, cell, {"status": "failed", "reason": str(exc)}, run, line, on_cell)
            continue
        entries = {e.label: e for e in result.record.backends}
        found = result.decision()  # the checks the recipe asks for (strict, full delegation), as the CLI's
        check = found.message if found is not None and found.exit_code == EXIT_CHECK_FAILED else None
        for cell in cells:
            entry = entries[cell.backend]
            outcome = {"status": entry.status, "reason": entry.reason, "run_dir": str(result.run_dir),
                       "p50_ms": entry.p50_ms}
            if check is not None and entry.ok:
                outcome["check"] = check
            _note_outcome(plan, cell, outcome, run, line, on_cell)


def _note_outcome(plan: Plan, cell: PlannedCell, outcome: dict[str, Any], run: RecipeRun, line: MatrixLine,
            on_cell: OnCell | None) -> None:
    outcome = {"cell": cell.id, **outcome}
    if cell.key:
        plan.state.remember(cell.key, outcome)
    cell.cached = outcome
    run.counters["cells_profiled"] += 1
    run.counters["cells_failed"] += outcome["status"] != "ok"
    line.advance()
    if on_cell:
        on_cell(cell, outcome)


def _write(plan: Plan, run: RecipeRun) -> None:
    """The run folder: linked copies of the cells' run dirs, recipe.json, and the report."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    Path(plan.recipe.runs_dir).mkdir(parents=True, exist_ok=True)
    n = 1
    while True:  # the first free name, taken by mkdir itself: two runs of one recipe in one second differ
        folder = Path(plan.recipe.runs_dir) / (f"{plan.recipe.title()}-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            folder.mkdir()
            break
        except FileExistsError:
            n += 1
    (folder / "cells").mkdir()
    linked: dict[str, Path] = {}
    for cell in plan.cells:
        source = (cell.cached or {}).get("run_dir")
        if source and source not in linked and Path(source).is_dir():
            linked[source] = folder / "cells" / Path(source).name
            shutil.copytree(source, linked[source], copy_function=_link)
    summary = {
        "schema": RECIPE_RUN.tag, "recipe": plan.recipe.title(), "source": str(plan.recipe.source),
        "finished_utc": stamp, "counters": run.counters, "seconds": run.seconds, "notes": run.notes,
        "cells": [{"id": c.id, **{k: v for k, v in (c.cached or {}).items() if k not in ("cell", "run_dir")},
                   "run_dir": str(linked[c.cached["run_dir"]].relative_to(folder))
                   if c.cached and c.cached.get("run_dir") in linked else None} for c in plan.cells],
    }
    (folder / "recipe.json").write_text(json.dumps(summary, indent=1))
    run.run_dir = folder
    if linked:
        _report(plan, run, list(linked.values()))


def _report(plan: Plan, run: RecipeRun, run_dirs: list[Path]) -> None:
    try:
        from edgeq.report.api import report
    except ImportError as exc:  # the report package is optional until it lands
        run.notes.append(f"no report: {exc}")
        return
    assert run.run_dir is not None
    for fmt in plan.recipe.report.formats:
        run.reports.append(report(run_dirs, run.run_dir / f"{plan.recipe.report.output}.{fmt}", fmt))


def _link(src: str, dst: str) -> None:
    """Hard links keep a run folder complete without copying samples again; copies across devices."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
