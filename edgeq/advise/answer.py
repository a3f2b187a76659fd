"""The answer: Pareto fronts, the recommendation and its runner-up, why every other candidate lost.

Everything here is computed from the measured cells and nothing else, so the JSON can be
checked against itself: the recommendation is the best objective among the candidates
whose measured accuracy is within the budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeq.advise.candidates import Pruned
from edgeq.agent.wire import ADVICE
from edgeq.advise.measure import Cell
from edgeq.advise.racing import Budget, latency_ratio, leader, objective_value

SCHEMA = ADVICE.tag
# Lower precision than this is what "a lower precision slower on a backend" compares against.
_FLOAT = "fp32"


def median_ci(cell: Cell, resamples: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of the pooled median latency, in ms."""
    pooled = cell.pooled_ns.astype(np.float64)
    if len(pooled) == 0:
        return None
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(pooled, size=(resamples, len(pooled))), axis=1) / 1e6
    low, high = np.percentile(medians, [2.5, 97.5])
    return round(float(low), 6), round(float(high), 6)


def front(points: dict[str, tuple[float, ...]]) -> list[str]:
    """Ids not dominated: nothing else is at least as good on every axis and better on one.

    Each point is (cost, ..., accuracy): every axis but the last is a cost (lower is better).
    """
    def better_or_equal(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(a[:-1], b[:-1])) and a[-1] >= b[-1]

    ids = [key for key, mine in points.items()
           if not any(better_or_equal(other, mine) and other != mine for k2, other in points.items() if k2 != key)]
    return sorted(ids, key=lambda k: points[k][0])


def _lower_precision_note(cell: Cell, by_id: dict[str, Cell]) -> str:
    """'slower than fp32 on the same backend' where a quantized variant lost to float on its own backend."""
    c = cell.candidate
    if c.variant == _FLOAT:
        return ""
    float_cell = by_id.get(f"{_FLOAT}/{c.backend}/t{c.threads}")
    if float_cell is None or not float_cell.ok or float_cell.p50_ms is None:
        return ""
    if cell.ok and cell.p50_ms is not None and cell.p50_ms > float_cell.p50_ms:
        return (f"; lower precision is slower here: {cell.p50_ms:.4g} ms vs fp32's {float_cell.p50_ms:.4g} ms "
                f"on {c.backend}")
    if not cell.ok and c.variant.startswith(("int8", "int16", "qat")):
        return f"; fp32 runs on {c.backend} ({float_cell.p50_ms:.4g} ms): use fp32 on this backend"
    return ""


def _row(cell: Cell, budget: Budget, size: int) -> dict[str, Any]:
    c = cell.candidate
    ci = median_ci(cell)
    return {"id": c.id, "variant": c.variant, "backend": c.backend, "threads": c.threads, "size_bytes": size,
            "status": cell.status, "reason": cell.reason, "accuracy": cell.accuracy,
            "accuracy_drop": budget.drop(cell.accuracy), "within_budget": cell.ok and budget.within(cell.accuracy),
            "p50_ms": round(cell.p50_ms, 6) if cell.p50_ms is not None else None,
            "p50_ci_ms": list(ci) if ci else None, "runs": cell.runs, "rounds": len(cell.samples_ns),
            "energy_mj": float(np.median(cell.energy_mj)) if cell.energy_mj else None,
            "board_s": round(cell.board_s, 4), "settled": cell.settled, "run_dirs": cell.run_dirs}


def build(cells: list[Cell], pruned: list[Pruned], budget: Budget, objective: str, sizes: dict[str, int],
          context: dict[str, Any]) -> dict[str, Any]:
    """The whole answer as JSON-able data (schema wire.ADVICE)."""
    by_id = {c.candidate.id: c for c in cells}
    rows = {c.candidate.id: _row(c, budget, sizes[c.candidate.variant]) for c in cells}
    measured = [c for c in cells if c.ok and c.p50_ms is not None and c.accuracy is not None]
    cost_key = {"latency": "p50_ms", "energy": "energy_mj", "size": "size_bytes"}[objective]
    latency_front = front({c.candidate.id: (rows[c.candidate.id][cost_key], c.accuracy) for c in measured
                           if rows[c.candidate.id][cost_key] is not None})
    size_front = front({c.candidate.id: (float(sizes[c.candidate.variant]), c.accuracy) for c in measured})
    joint_cost = "p50_ms" if objective == "size" else cost_key  # size with size is the size front
    joint_front = front({c.candidate.id: (rows[c.candidate.id][joint_cost], float(sizes[c.candidate.variant]),
                                          c.accuracy) for c in measured if rows[c.candidate.id][joint_cost] is not None})
    best = leader(cells, budget, objective, sizes)
    feasible = sorted((c for c in measured if budget.within(c.accuracy)
                       and objective_value(c, objective, sizes[c.candidate.variant]) is not None),
                      key=lambda c: (objective_value(c, objective, sizes[c.candidate.variant]), c.candidate.id))
    runner = next((c for c in feasible if c is not best), None)
    recommendation = runner_up = None
    if best is not None:
        recommendation = dict(rows[best.candidate.id])
        rows[best.candidate.id]["verdict"] = "recommended"
    if runner is not None and best is not None:
        runner_up = dict(rows[runner.candidate.id])
        if objective == "latency":
            ratio, low, high = latency_ratio(best, runner)
            runner_up["margin"] = {"ratio": round(ratio, 4), "ci": [round(low, 4), round(high, 4)],
                                   "separated": low > 1.0}
    for cell in cells:
        row = rows[cell.candidate.id]
        row["on_front"] = cell.candidate.id in latency_front
        row["on_size_front"] = cell.candidate.id in size_front
        row["on_joint_front"] = cell.candidate.id in joint_front
        if row.get("verdict") == "recommended":
            continue
        row["verdict"] = "runner-up" if cell is runner else "rejected"
        row["why"] = _why(cell, best, objective, sizes) + _lower_precision_note(cell, by_id)
    return {"schema": SCHEMA, **context, "objective": objective, "max_accuracy_drop": budget.max_drop,
            "baseline_accuracy": budget.baseline, "recommendation": recommendation, "runner_up": runner_up,
            "pareto": {"objective": latency_front, "size": size_front, "joint": joint_front},
            "candidates": list(rows.values()),
            "pruned": [{"id": p.candidate.id, "variant": p.candidate.variant, "backend": p.candidate.backend,
                        "threads": p.candidate.threads, "reason": p.reason} for p in pruned]}


def _why(cell: Cell, best: Cell | None, objective: str, sizes: dict[str, int]) -> str:
    if cell.settled and not cell.settled.startswith("size known"):
        return cell.settled
    if best is None:
        return "no candidate met the accuracy budget"
    mine = objective_value(cell, objective, sizes[cell.candidate.variant])
    theirs = objective_value(best, objective, sizes[best.candidate.variant])
    if mine is None or theirs is None:
        return cell.reason or "not measured"
    unit = {"latency": "ms", "energy": "mJ", "size": "bytes"}[objective]
    text = f"{'larger' if objective == 'size' else 'slower' if objective == 'latency' else 'more energy'}: " \
           f"{mine:.4g} {unit} vs {theirs:.4g} {unit} for {best.candidate.id}"
    if objective == "latency" and cell.samples_ns and best.samples_ns:
        ratio, low, high = latency_ratio(best, cell)
        text += f" ({ratio:.2f}x, 95% CI {low:.2f}..{high:.2f}{'' if low > 1 else ', not separated'})"
    return text


def recipe_yaml(answer: dict[str, Any], variant_path: Path, board: str) -> str:
    """A recipe that measures the recommendation again with `edgeq run` (the exact variant file)."""
    rec = answer["recommendation"]
    name = f"advise-{Path(answer['model']).stem}-{board}".lower().replace("_", "-")
    return "\n".join([
        f"# Written by edgeq advise: the recommended configuration for {answer['model']} on {board}.",
        f"# {rec['id']}: p50 {rec['p50_ms']:.4g} ms, accuracy {rec['accuracy']}.",
        "# The model is the exact variant advise measured; a .tflite file goes through as it is,",
        "# which a recipe spells as mode fp32 (no further quantization).",
        f"name: {name}",
        f"description: {answer['objective']}-optimal within {answer['max_accuracy_drop']:g} accuracy points",
        "models:",
        f"  - file: {variant_path.resolve()}",
        f"    name: {Path(answer['model']).stem.lower().replace('_', '-')}-{rec['variant']}",
        "    modes: [fp32]",
        f"boards: [{board}]",
        "backends:",
        f"  - spec: \"{rec['backend']}\"",
        f"    threads: [{rec['threads']}]",
        "profile:",
        "  runs: 50",
        "  warmup: 5",
        "report:",
        "  formats: [html, json]",
        ""])
