"""The racing rule: which candidates are still worth board time after a round.

Rounds grow (each measures for twice the seconds of the one before). After every round:

1. A candidate that failed, was unavailable, gave wrong outputs or lost more accuracy than
   the budget allows stops at once: its first round already says all that can be said.
2. The leader is the candidate within the budget with the best (lowest) objective so far.
3. Every other candidate within the budget is compared with the leader by `edgeq compare`'s
   bootstrap (block bootstrap of the pooled per-iteration samples, each round counted as a
   run of its own, so a board whose speed wandered between rounds widens the interval). When
   the whole 95% interval of its median latency over the leader's lies above 1, it cannot
   be the answer and stops (it keeps its place on the Pareto chart with what it measured).
4. The race ends when one candidate is left, at the last round, or when the next round
   would overrun --budget-minutes. Candidates still racing then are reported as not
   separated, with their interval.

Energy races the same way on each round's energy per inference, with a stricter rule (its
worst round must beat the candidate's best, after two rounds), because a round gives one
energy figure and a bootstrap of two or three figures says little. Size is known before
anything runs: one round measures latency and accuracy, and the race is over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeq.advise.measure import Cell
from edgeq.report.bootstrap import median_ratio_ci

RESAMPLES = 1000
OBJECTIVES = ("latency", "energy", "size")


@dataclass(frozen=True)
class Budget:
    """Accuracy may drop by at most `max_drop` percentage points below `baseline`."""

    baseline: float
    max_drop: float

    def drop(self, accuracy: float | None) -> float | None:
        return None if accuracy is None else round(100 * (self.baseline - accuracy), 4)

    def within(self, accuracy: float | None) -> bool:
        drop = self.drop(accuracy)
        return drop is not None and drop <= self.max_drop + 1e-9


def objective_value(cell: Cell, objective: str, size_bytes: int) -> float | None:
    if objective == "size":
        return float(size_bytes) if cell.ok else None
    if objective == "energy":
        return float(np.median(cell.energy_mj)) if cell.energy_mj else None
    return cell.p50_ms


def latency_ratio(leader: Cell, other: Cell) -> tuple[float, float, float]:
    """median(other) / median(leader) with its 95% interval, rounds as runs."""
    base = [np.asarray(s, dtype=np.float64) for s in leader.samples_ns if s]
    new = [np.asarray(s, dtype=np.float64) for s in other.samples_ns if s]
    return median_ratio_ci(base, new, resamples=RESAMPLES)


def _verdict(cell: Cell, budget: Budget) -> str | None:
    if cell.status in ("failed", "unavailable"):
        return f"refused on the board: {cell.reason}"
    if cell.status == "wrong":
        return f"wrong outputs: {cell.reason}"
    if cell.ok and not budget.within(cell.accuracy):
        drop = budget.drop(cell.accuracy)
        return (f"over the accuracy budget: accuracy {cell.accuracy:.4f}, a drop of {drop:.2f} points "
                f"(budget {budget.max_drop:g})") if drop is not None else "no accuracy measured"
    return None


def leader(cells: list[Cell], budget: Budget, objective: str, sizes: dict[str, int]) -> Cell | None:
    feasible = [c for c in cells if c.ok and budget.within(c.accuracy)
                and objective_value(c, objective, sizes[c.candidate.variant]) is not None]
    if not feasible:
        return None
    return min(feasible, key=lambda c: (objective_value(c, objective, sizes[c.candidate.variant]),
                                        -(c.accuracy or 0), c.candidate.id))


def settle(cells: list[Cell], budget: Budget, objective: str, sizes: dict[str, int], round_index: int) -> Cell | None:
    """Apply the rule after round `round_index` (0-based); marks `settled` on the ones that stop."""
    for cell in cells:  # a later round can fail too (a crash the first round did not meet)
        if cell.settled is None:
            cell.settled = _verdict(cell, budget)
    best = leader(cells, budget, objective, sizes)
    if best is None:
        return None
    racing = [c for c in cells if c.settled is None and c is not best]
    for cell in racing:
        if objective == "size":
            cell.settled = "size known: one round measured its latency and accuracy"
        elif objective == "energy":
            if len(cell.energy_mj) >= 2 and min(cell.energy_mj) > max(best.energy_mj):
                cell.settled = (f"uses more energy than {best.candidate.id} in every round "
                                f"(after round {round_index + 1})")
        else:
            ratio, low, high = latency_ratio(best, cell)
            if low > 1.0:
                cell.settled = (f"slower than {best.candidate.id}: {ratio:.2f}x its median latency "
                                f"(95% CI {low:.2f}..{high:.2f}) after round {round_index + 1}")
    if objective == "size" and best.settled is None:
        best.settled = "size known: one round measured its latency and accuracy"
    return best


def still_racing(cells: list[Cell]) -> list[Cell]:
    return [c for c in cells if c.settled is None]
