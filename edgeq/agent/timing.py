"""The iteration loop and its statistics.

The loop is kept as bare as Python allows so that edgeq's median stays within a
few percent of a hand-written `invoke()` loop (benchmarks/bench_overhead.py).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Dict, List

_NS_PER_MS = 1e6


def run_loop(step: Callable[[], object], runs: int, min_seconds: float) -> List[int]:
    """Call `step` at least `runs` times and for at least `min_seconds`; return each call's ns."""
    clock = time.perf_counter_ns
    samples: List[int] = []
    append = samples.append
    deadline = clock() + int(min_seconds * 1e9)
    done = 0
    while done < runs or clock() < deadline:
        t0 = clock()
        step()
        append(clock() - t0)
        done += 1
    return samples


def time_once(step: Callable[[], object]) -> float:
    """Milliseconds one call of `step` takes (model load, first inference)."""
    t0 = time.perf_counter_ns()
    step()
    return (time.perf_counter_ns() - t0) / _NS_PER_MS


def _percentile(ordered: List[int], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy's default does."""
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(samples_ns: List[int]) -> Dict[str, float]:
    """Statistics in milliseconds over raw samples; std is the sample std (n - 1)."""
    if not samples_ns:
        raise ValueError("no samples to summarize")
    ordered = sorted(samples_ns)
    n = len(ordered)
    mean = sum(ordered) / n
    var = sum((s - mean) ** 2 for s in ordered) / (n - 1) if n > 1 else 0.0
    std = math.sqrt(var)
    stats = {
        "count": n,
        "mean_ms": mean / _NS_PER_MS,
        "std_ms": std / _NS_PER_MS,
        "min_ms": ordered[0] / _NS_PER_MS,
        "p50_ms": _percentile(ordered, 50) / _NS_PER_MS,
        "p90_ms": _percentile(ordered, 90) / _NS_PER_MS,
        "p99_ms": _percentile(ordered, 99) / _NS_PER_MS,
        "max_ms": ordered[-1] / _NS_PER_MS,
        "cv": std / mean if mean else 0.0,
    }
    return stats
