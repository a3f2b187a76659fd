"""`edgeq compare`: is NEW slower than BASELINE, beyond noise, for any (board, model, variant, backend)?

A CI gate that cries wolf gets switched off, so one noisy run must not fail it.
The test is a bootstrap on the raw per-iteration samples: both sides are
resampled (fixed seed, so a verdict is reproducible), giving a 95% confidence
interval for the ratio of median latencies. A cell regresses only when the whole
interval lies above 1 + max_regression. A backend that ran in the baseline and
fails in the new runs is a regression too: a gate must not pass because the
slow thing stopped running.

Iterations are a time series, not independent draws: neighbours share the
board's state (another process on the core, the clock, the caches). So the
bootstrap resamples contiguous blocks of iterations (BLOCKS per run), which
widens the interval when conditions drifted during a run.

That alone is not enough. A board's speed wanders over seconds and minutes: on a
shared 2-core VM, 2-3% standard deviation between runs, common to every backend
and to both cores, so two runs of an unchanged configuration can differ by 6-9%
while the block bootstrap of each says +-0.5% (it gave +5.4% to +6.4% for two such
runs). Each run's level is therefore taken to be uncertain by how far it wandered
inside (`wander`: the spread of its blocks' medians beyond sampling noise; measured
here at 0.8-1.1x the spread between repeated runs) and at least MIN_RUN_SD, or, with
several runs on a side, by their spread when that is larger. Every bootstrap
replicate is scaled by a normal draw of the two sides' level errors. A single noisy
run cannot carry a verdict;
repeated runs per side narrow the interval as the square root of their number, so
a gate on a noisy board passes folders of several runs on both sides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq.errors import CheckFailed, ConfigError

from .bootstrap import (BLOCKS, CONFIDENCE, MIN_RUN_SD, RESAMPLES, SEED, _blocks, _boot_medians,  # noqa: F401
                        level_sd, median_ratio_ci, wander)
from .cells import Cell
from .data import collect
from .load import Run
from .units import duration


Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class Change:
    """One (board, model, variant, backend) in both sets of runs, or in only one of them."""

    key: Key
    verdict: str  # regression, broken, faster, unchanged, fixed, new, gone, failed, no samples
    base_p50_ms: float | None = None
    new_p50_ms: float | None = None
    ratio: float | None = None
    ci: tuple[float, float] | None = None
    energy_delta_mj: float | None = None
    accuracy_delta: float | None = None

    @property
    def regressed(self) -> bool:
        return self.verdict in ("regression", "broken")

    @property
    def name(self) -> str:
        return "/".join(self.key)


@dataclass(frozen=True)
class CompareResult:
    changes: list[Change]
    max_regression: float
    baseline: list[Path]
    new: list[Path]
    resamples: int = RESAMPLES

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regressed]

    @property
    def verdict(self) -> str:
        return "regression" if self.regressions else "ok"

    @property
    def summary(self) -> str:
        """One line for the CLI's error message and CI logs."""
        limit = f"+{100 * self.max_regression:g}%"
        if not self.regressions:
            return f"no regression beyond {limit} in {len(self.changes)} cells"
        listed = "; ".join(f"{c.name} {_change_text(c)}" for c in self.regressions)
        return f"{len(self.regressions)} of {len(self.changes)} cells regressed beyond {limit}: {listed}"

    def check(self) -> None:
        """Raise CheckFailed (exit 1) when anything regressed; call it after printing the Markdown."""
        if self.regressions:
            raise CheckFailed(self.summary)

    @property
    def markdown(self) -> str:
        """The summary for a CI comment: the verdict first, then every cell."""
        limit = f"+{100 * self.max_regression:g}%"
        head = (f"## edgeq compare: {'REGRESSION' if self.regressions else 'no regression'} "
                f"({len(self.regressions)} of {len(self.changes)} cells beyond {limit})")
        method = (f"A cell regresses when the {100 * CONFIDENCE:g}% confidence interval of its median latency's change "
                  f"(new / baseline, a block bootstrap over the raw samples: {BLOCKS} blocks per run, "
                  f"{self.resamples} resamples; each run's level uncertain by how far it wandered, at least "
                  f"{100 * MIN_RUN_SD:g}%, or by the spread between a side's runs) lies wholly above {limit}, "
                  f"or when it ran in the baseline and fails now.")
        rows = ["| board | model | variant | backend | baseline p50 | new p50 | change (95% CI) | "
                "energy Δ mJ | accuracy Δ | verdict |", "|" + " --- |" * 10]
        for c in self.changes:
            verdict = f"**{c.verdict.upper()}**" if c.regressed else c.verdict
            rows.append("| " + " | ".join([*(k.replace("|", "\\|") for k in c.key), _ms(c.base_p50_ms),
                                           _ms(c.new_p50_ms), _change_text(c), _signed(c.energy_delta_mj, 3),
                                           _signed(c.accuracy_delta, 4), verdict]) + " |")
        sources = f"Baseline: {_runs_text(self.baseline)}  \nNew: {_runs_text(self.new)}"
        return "\n".join([head, "", sources, "", method, "", *rows]) + "\n"


def compare(baseline: list[Run], new: list[Run], max_regression: float = 0.05,
            resamples: int = RESAMPLES, seed: int = SEED) -> CompareResult:
    """Every cell of BASELINE and NEW matched by key, each given a verdict, with a Markdown summary."""
    base_cells, new_cells = _by_key(collect(baseline).cells), _by_key(collect(new).cells)
    if base_cells and new_cells and not set(base_cells) & set(new_cells):
        raise ConfigError("baseline and new share no cell (board/model/variant/backend), so nothing can be compared: "
                          f"baseline has {_keys(base_cells)}; new has {_keys(new_cells)}")
    changes = [_change(key, base_cells.get(key, []), new_cells.get(key, []), max_regression, resamples, seed)
               for key in dict.fromkeys([*base_cells, *new_cells])]
    return CompareResult(changes, max_regression, [r.path for r in baseline], [r.path for r in new], resamples)


def _change(key: Key, base: list[Cell], new: list[Cell], limit: float, resamples: int, seed: int) -> Change:
    if not base or not new:
        return Change(key, "new" if not base else "gone")
    base_ok, new_ok = [c for c in base if c.ok], [c for c in new if c.ok]
    if not base_ok or not new_ok:
        verdict = "failed" if not base_ok and not new_ok else "broken" if base_ok else "fixed"
        return Change(key, verdict)
    base_runs, new_runs = _samples(base_ok), _samples(new_ok)
    energy, accuracy = _delta(base_ok, new_ok, _energy), _delta(base_ok, new_ok, _accuracy)
    if not base_runs or not new_runs:  # an external tool's summary: no samples to test on
        return Change(key, "no samples", energy_delta_mj=energy, accuracy_delta=accuracy)
    ratio, low, high = median_ratio_ci(base_runs, new_runs, resamples, seed)
    verdict = "regression" if low > 1 + limit else "faster" if high < 1 - limit else "unchanged"
    return Change(key, verdict, float(np.median(np.concatenate(base_runs))) / 1e6,
                  float(np.median(np.concatenate(new_runs))) / 1e6, ratio, (low, high), energy, accuracy)


def _keys(cells: dict[Key, list[Cell]], shown: int = 6) -> str:
    names = ["/".join(key) for key in cells]
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _by_key(cells: Iterable[Cell]) -> dict[Key, list[Cell]]:
    grouped: dict[Key, list[Cell]] = {}
    for cell in cells:
        grouped.setdefault(cell.key, []).append(cell)
    return grouped


def _samples(cells: list[Cell]) -> list[np.ndarray]:
    """Each run's samples; repeated runs of one configuration all count, each keeping its own blocks."""
    return [c.samples_ns for c in cells if c.samples_ns.size]


def _energy(cell: Cell) -> float | None:
    return (cell.energy() or {}).get("mj")


def _accuracy(cell: Cell) -> float | None:
    found = cell.accuracy()
    return found[1] if found else None


def _delta(base: list[Cell], new: list[Cell], value: Callable[[Cell], float | None]) -> float | None:
    before = [v for v in map(value, base) if v is not None]
    after = [v for v in map(value, new) if v is not None]
    return float(np.mean(after) - np.mean(before)) if before and after else None


def _runs_text(paths: list[Path]) -> str:
    if len(paths) == 1:
        return str(paths[0])
    return f"{len(paths)} runs under {os.path.commonpath([str(p) for p in paths])}"


def _ms(value: float | None) -> str:
    """Four significant digits in the unit that fits (µs below 1 ms): a change of a few % stays visible."""
    return duration(value, 4)


def _signed(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


_WITHOUT_RATIO = {"failed": "failed in both", "broken": "ran before, fails now", "fixed": "failed before, runs now",
                  "new": "only in new", "gone": "only in baseline", "no samples": "no raw samples to compare"}


def _change_text(change: Change) -> str:
    if change.ratio is None or change.ci is None:
        return _WITHOUT_RATIO.get(change.verdict, change.verdict)
    return (f"{100 * (change.ratio - 1):+.1f}% (95% CI {100 * (change.ci[0] - 1):+.1f}% to "
            f"{100 * (change.ci[1] - 1):+.1f}%)")
