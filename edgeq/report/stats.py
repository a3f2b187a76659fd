"""Setups (one configuration, pooled over its repeated runs), their median's confidence interval, and noise.

A *setup* is what a reader compares: one model variant on one backend of one board.
Its repeated runs are cells with the same key; the median and its 95% interval come
from all of them, with the same block bootstrap `edgeq compare` uses (so a run whose
speed wandered, or runs that disagree, widen the interval rather than hide in it).

A cell is *noisy* when either
- its coefficient of variation (std / mean of the samples) exceeds NOISY_CV: the mean
  and the tail then move with whatever else ran, so p90 or a mean-based figure is not
  this configuration's typical time; or
- its median's 95% interval is wider than NOISY_CI of the median: a ranking against a
  cell closer than that is not settled by this run.
Both are shown with the figure, so a reader can judge, and the warnings list them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .cells import Cell

NOISY_CV = 0.25
NOISY_CI = 0.10
NOISE_RULE = (f"CV over {100 * NOISY_CV:.0f}% (the mean and tail move with other load) or a median 95% CI "
              f"wider than {100 * NOISY_CI:.0f}% of the median (a ranking closer than that is not settled)")


@dataclass(frozen=True)
class Interval:
    """A median and its 95% confidence interval, in milliseconds."""

    median: float
    low: float
    high: float

    @property
    def width(self) -> float:
        """The interval's width as a share of the median."""
        return (self.high - self.low) / self.median if self.median > 0 else 0.0


def median_interval(runs: list[np.ndarray]) -> Interval | None:
    """The pooled median of runs' samples (ns) and its 95% interval, in ms; None without samples."""
    from .bootstrap import CONFIDENCE, RESAMPLES, SEED, _blocks, _boot_medians, level_sd

    runs = [r for r in runs if r.size]
    if not runs:
        return None
    rng = np.random.default_rng(SEED)
    medians = _boot_medians(_blocks(runs), RESAMPLES, rng) * np.exp(rng.normal(0.0, level_sd(runs), RESAMPLES))
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(medians, [tail, 100 - tail])
    median = float(np.median(np.concatenate(runs)))
    return Interval(median / 1e6, float(min(low, median)) / 1e6, float(max(high, median)) / 1e6)


def noise_reason(cell: Cell, interval: Interval | None) -> str | None:
    """Why a cell's latency should not be trusted at face value, or None when it is steady."""
    lat = cell.latency()
    if lat is None:
        return None
    return noise_text(lat.std / lat.mean if lat.mean and lat.std is not None else None, interval)


def noise_text(cv: float | None, interval: Interval | None) -> str | None:
    """The noisy rule on a coefficient of variation and a median interval (either may be unknown)."""
    why = []
    if cv is not None and cv > NOISY_CV:
        why.append(f"CV {100 * cv:.0f}% > {100 * NOISY_CV:.0f}%")
    if interval and interval.width > NOISY_CI:
        why.append(f"median CI {100 * interval.width:.0f}% wide > {100 * NOISY_CI:.0f}%")
    return "; ".join(why) or None


@dataclass
class Setup:
    """One (board, model, variant, backend) with all its runs."""

    cells: list[Cell]

    @property
    def first(self) -> Cell:
        return self.cells[0]

    @property
    def board(self) -> str:
        return self.first.board

    @property
    def model(self) -> str:
        return self.first.model

    @property
    def variant(self) -> str:
        return self.first.variant

    @property
    def backend(self) -> str:
        return self.first.backend

    @property
    def name(self) -> str:
        return f"{self.backend} {self.variant}"

    @property
    def ok(self) -> list[Cell]:
        return [c for c in self.cells if c.ok]

    @property
    def runs(self) -> list[np.ndarray]:
        return [c.samples_ns for c in self.ok if c.samples_ns.size]

    @cached_property
    def interval(self) -> Interval | None:
        return median_interval(self.runs)

    @property
    def passed(self) -> bool | None:
        """False when any run's outputs mismatched, True when all were checked and passed, None when unchecked."""
        verdicts = [c.passed() for c in self.ok]
        if False in verdicts:
            return False
        return True if verdicts and all(v is True for v in verdicts) else None

    @property
    def size_bytes(self) -> int | None:
        return self.first.size_bytes

    def accuracy(self) -> tuple[str, float] | None:
        found = [a for a in (c.accuracy() for c in self.ok) if a]
        if not found:
            return None
        kind = "accuracy" if any(k == "accuracy" for k, _ in found) else "agreement"
        values = [v for k, v in found if k == kind]
        return kind, float(np.mean(values))


def setups(cells: list[Cell]) -> list[Setup]:
    """Cells grouped by key, in the cells' order."""
    grouped: dict[tuple[str, str, str, str], Setup] = {}
    for cell in cells:
        grouped.setdefault(cell.key, Setup([])).cells.append(cell)
    return list(grouped.values())
