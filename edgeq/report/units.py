"""Numbers as people read them: a duration in the unit that fits it, a CV as a percentage.

Every format shows durations through `duration` (µs below 1 ms, s from 1000 ms on), so a
5 µs XNNPACK run and a 300 ms CpuRef run are both read without counting zeros. Machine
formats (CSV, JSON) keep plain numbers in one unit (milliseconds) beside the text.
"""

from __future__ import annotations

import re

# (unit, milliseconds per unit), largest first; `duration` uses the first one the value reaches.
UNITS = (("s", 1000.0), ("ms", 1.0), ("µs", 1e-3), ("ns", 1e-6))
_SORT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(ns|µs|us|ms|s|%|×|dB|KB|MB)?(?![\w])")
_TO_MS = {"s": 1000.0, "ms": 1.0, "µs": 1e-3, "us": 1e-3, "ns": 1e-6}


def unit_for(ms: float) -> tuple[str, float]:
    """(unit, ms per unit) for a value in milliseconds: µs below 1 ms, s from 1000 ms."""
    size = abs(ms)
    if size >= 1000:
        return UNITS[0]
    if size >= 1 or size == 0:
        return UNITS[1]
    return UNITS[2] if size >= 1e-3 else UNITS[3]


def duration(ms: float | None, digits: int = 3) -> str:
    """`5.45 µs`, `580 µs`, `2.09 ms`, `1.23 s`: `digits` significant digits in the unit that fits."""
    if ms is None:
        return "—"
    unit, scale = unit_for(ms)
    return f"{_sig(ms / scale, digits)} {unit}"


def span(low_ms: float, high_ms: float, digits: int = 3) -> str:
    """`0.31–0.38 ms`: both ends in the unit of the larger, so they compare by eye."""
    unit, scale = unit_for(max(abs(low_ms), abs(high_ms)))
    return f"{_sig(low_ms / scale, digits)}–{_sig(high_ms / scale, digits)} {unit}"


def percent(fraction: float | None, digits: int = 1) -> str:
    """0.153 -> `15.3%`."""
    return "—" if fraction is None else f"{100 * fraction:.{digits}f}%"


def sort_value(text: str) -> float | None:
    """The number a table cell sorts by, durations brought to milliseconds (`580 µs` < `2.09 ms`)."""
    found = _SORT.match(text)
    if not found:
        return None
    return float(found.group(1)) * _TO_MS.get(found.group(2) or "", 1.0)


def _sig(value: float, digits: int) -> str:
    """Significant digits without switching to exponent notation for the values units leave (1 to 999)."""
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:
        text = f"{value:.0f}"
    return text
