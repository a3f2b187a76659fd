"""From samples and a backend's windows to the figures a result carries.

Samples and windows share one clock (perf_counter_ns), so assigning a sample to the
idle, warm-up or measured window is a comparison of two integers.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, Dict, List, Optional, Sequence

from .vcgencmd import NOW_MASK, SINCE_BOOT_SHIFT

Sample = Dict[str, Any]


def _at(times: Sequence[int], values: Sequence[float], t: int) -> float:
    k = bisect_right(times, t)
    if k == 0:
        return values[0]
    if k == len(times):
        return values[-1]
    t0, t1, v0, v1 = times[k - 1], times[k], values[k - 1], values[k]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def average_power(samples: Sequence[Sample], t0: int, t1: int) -> Optional[float]:
    """Watts averaged over [t0, t1], integrating the readings as straight lines between samples.

    Integrating, rather than averaging the samples that fall inside, gives a figure for a
    window shorter than the sampling period, and weighs a step inside the window by the
    time spent on each side of it. Only the part of the window between the first and
    last reading counts; None when no part of it does.
    """
    times = [s["t_ns"] for s in samples if "w" in s]
    values = [float(s["w"]) for s in samples if "w" in s]
    if not times or t1 < t0:
        return None
    lo, hi = max(t0, times[0]), min(t1, times[-1])
    if hi < lo:
        return None
    if hi == lo:
        return _at(times, values, lo)
    inner = slice(bisect_right(times, lo), bisect_left(times, hi))
    xs = [lo] + list(times[inner]) + [hi]
    ys = [_at(times, values, lo)] + list(values[inner]) + [_at(times, values, hi)]
    area = sum((xs[k + 1] - xs[k]) * (ys[k] + ys[k + 1]) / 2 for k in range(len(xs) - 1))
    return area / (hi - lo)


def within(samples: Sequence[Sample], t0: int, t1: int, key: str) -> List[Sample]:
    """Samples carrying `key` taken in [t0, t1]; for a window shorter than the sampling
    period, which holds none, the two samples on either side of it stand for it."""
    carrying = [s for s in samples if key in s]
    inside = [s for s in carrying if t0 <= s["t_ns"] <= t1]
    if inside or not carrying:
        return inside
    before = [s for s in carrying if s["t_ns"] < t0][-1:]
    after = [s for s in carrying if s["t_ns"] > t1][:1]
    return before + after


def _throttled(samples: Sequence[Sample], t0: int, t1: int) -> Optional[bool]:
    """A "now" bit in the window, or a "since boot" bit that got set across it (a short
    throttle between two samples leaves only the latter)."""
    carrying = [s for s in samples if "throttled" in s]
    if not carrying:
        return None
    if any(s["throttled"] & NOW_MASK for s in within(carrying, t0, t1, "throttled")):
        return True
    before = next((s for s in reversed(carrying) if s["t_ns"] <= t0), carrying[0])["throttled"]
    after = next((s for s in carrying if s["t_ns"] >= t1), carrying[-1])["throttled"]
    return bool((after & ~before) >> SINCE_BOOT_SHIFT & NOW_MASK)


def _clock_dropped(chosen: Sequence[Sample]) -> Optional[bool]:
    """Whether any policy's clock fell below a value it had already reached in the window."""
    if not chosen:
        return None
    peak: Dict[str, int] = {}
    for sample in chosen:
        for policy, khz in sample["khz"].items():
            if khz < peak.get(policy, khz):
                return True
            peak[policy] = max(peak.get(policy, khz), khz)
    return False


def _energy(watts: float, idle_w: Optional[float], seconds: float, runs: int) -> Dict[str, float]:
    """Energy per inference is the window's energy shared by its runs (window = the timed loop)."""
    energy = {"avg_power_w": watts, "energy_mj_per_inference": watts * seconds / runs * 1e3}
    if idle_w is not None:
        energy.update(idle_power_w=idle_w, avg_power_above_idle_w=watts - idle_w,
                      energy_mj_per_inference_above_idle=(watts - idle_w) * seconds / runs * 1e3)
    return energy


def backend(samples: Sequence[Sample], window: Sequence[int], runs: int, idle_w: Optional[float]) -> Dict[str, Any]:
    """The telemetry of one backend's measured window."""
    t0, t1 = window
    seconds = (t1 - t0) / 1e9
    out: Dict[str, Any] = {"measured_s": seconds, "runs": runs,
                           "samples": sum(1 for s in samples if t0 <= s["t_ns"] <= t1)}
    watts = average_power(samples, t0, t1)
    if watts is not None:
        out["energy"] = _energy(watts, idle_w, seconds, runs)
    rails = within(samples, t0, t1, "rails")
    if rails:
        names = sorted({name for s in rails for name in s["rails"]})
        out["rails_w"] = {n: sum(s["rails"].get(n, 0.0) for s in rails) / len(rails) for n in names}
    temps = within(samples, t0, t1, "temps")
    if temps:
        zones = sorted({zone for s in temps for zone in s["temps"]})
        out["thermal"] = {"max_c": {z: max(s["temps"][z] for s in temps if z in s["temps"]) for z in zones}}
    clocks = within(samples, t0, t1, "khz")
    if clocks:
        policies = sorted({p for s in clocks for p in s["khz"]})
        out["cpufreq"] = {p: {"min_khz": min(s["khz"][p] for s in clocks if p in s["khz"]),
                              "max_khz": max(s["khz"][p] for s in clocks if p in s["khz"])} for p in policies}
    out["throttling"] = {"throttled": _throttled(samples, t0, t1), "clock_dropped": _clock_dropped(clocks)}
    out["flagged"] = any(out["throttling"].values())
    return out
