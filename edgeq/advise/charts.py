"""The Pareto chart: cost (log axis) against accuracy, zoomed to the accuracies measured.

Accuracies of quantized variants sit within a point or two of each other, so a 0..1 axis
would draw them as one line; the axis spans the measured range and the budget's floor.
The front is drawn as a step line through its points; the recommendation is green.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from edgeq.report.charts import Axis

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 1100, 380, 80, 1070, 40, 320
STYLE = {"recommended": ("#1e7b34", 8), "front": ("#2c7fb8", 6), "joint": ("#9ecae1", 6), "other": ("#aaaaaa", 5)}
LEGEND = (("recommended", "recommended"), ("front", "Pareto front"), ("joint", "on the front with size"),
          ("other", "dominated"))


COSTS = {"latency": "p50_ms", "energy": "energy_mj", "size": "size_bytes"}
UNITS = {"p50_ms": "median latency, ms", "energy_mj": "energy per inference, mJ", "size_bytes": "model size, bytes"}


def pareto_chart(result: dict[str, Any], cost: str | None = None) -> str:
    """Cost (the objective's unless given) against accuracy, the front of that pair as a step line.

    The objective's chart marks points class "point"; a second chart (size, when the objective is
    not size) marks them "size-point" and draws the size/accuracy front (`on_size_front`).
    """
    main = cost is None or cost == COSTS[result["objective"]]
    cost = cost or COSTS[result["objective"]]
    flag, point = ("on_front", "point") if main else ("on_size_front", "size-point")
    rows = [r for r in result["candidates"] if r[cost] is not None and r["accuracy"] is not None]
    if not rows:
        return "<p class='none'>nothing measured</p>"
    rec = (result["recommendation"] or {}).get("id")
    floor = result["baseline_accuracy"] - result["max_accuracy_drop"] / 100
    accs = [r["accuracy"] for r in rows] + [floor, result["baseline_accuracy"]]
    low, high = min(accs), max(accs)
    pad = max((high - low) * 0.08, 0.002)
    x_axis = Axis(min(r[cost] for r in rows), max(r[cost] for r in rows), LEFT, RIGHT, log=True)
    if x_axis.hi <= x_axis.lo:  # every point at one power of ten
        x_axis.hi = x_axis.lo * 10
    y_axis = Axis(low - pad, high + pad, BOTTOM, TOP, log=False)
    y_axis.lo, y_axis.hi = low - pad, high + pad  # zoomed: Axis would start a linear axis at 0
    parts = []
    for value in x_axis.ticks():
        x = x_axis(value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{BOTTOM}" stroke="#e3e3e3"/>'
                     f'<text x="{x:.1f}" y="{BOTTOM + 16}" text-anchor="middle">{value:g}</text>')
    step = _step(y_axis.hi - y_axis.lo)
    value = math.ceil(y_axis.lo / step) * step
    while value <= y_axis.hi:
        y = y_axis(value)
        parts.append(f'<line x1="{LEFT}" x2="{RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.3f}</text>')
        value += step
    y = y_axis(floor)
    parts.append(f'<line class="budget" x1="{LEFT}" x2="{RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c0392b" '
                 f'stroke-dasharray="6 4"/><text x="{RIGHT}" y="{y - 5:.1f}" text-anchor="end" fill="#c0392b">'
                 f'accuracy budget ({result["max_accuracy_drop"]:g} points below fp32)</text>')
    front = sorted((r for r in rows if r[flag]), key=lambda r: r[cost])
    if len(front) > 1:
        path = f"M{x_axis(front[0][cost]):.1f} {y_axis(front[0]['accuracy']):.1f}"
        for r in front[1:]:
            path += f"H{x_axis(r[cost]):.1f}V{y_axis(r['accuracy']):.1f}"
        parts.append(f'<path class="front" d="{path}" stroke="#2c7fb8" fill="none" stroke-width="1.5"/>')
    for r in sorted(rows, key=lambda r: (r["id"] == rec, r[flag], bool(r.get("on_joint_front")))):
        kind = "recommended" if r["id"] == rec else "front" if r[flag] else \
            "joint" if r.get("on_joint_front") else "other"
        color, radius = STYLE[kind]
        parts.append(f'<circle class="{point}" cx="{x_axis(r[cost]):.1f}" cy="{y_axis(r["accuracy"]):.1f}" '
                     f'r="{radius}" fill="{color}" fill-opacity="0.85" stroke="#333" stroke-width="0.6">'
                     f'<title>{escape(r["id"])}: {r[cost]:.4g}, accuracy {r["accuracy"]:.4f} ({r["verdict"]})'
                     f'</title></circle>')
    x = LEFT
    for kind, text in LEGEND:
        color, _ = STYLE[kind]
        parts.append(f'<circle cx="{x + 6}" cy="14" r="6" fill="{color}"/><text x="{x + 16}" y="18">{text}</text>')
        x += 40 + 7 * len(text)
    unit = UNITS[cost]
    parts.append(f'<text x="{(LEFT + RIGHT) / 2}" y="{BOTTOM + 40}" text-anchor="middle">{unit}, log scale</text>'
                 f'<text transform="translate(18 {(TOP + BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
                 f'{"accuracy" if result["accuracy_kind"] == "accuracy" else "agreement with fp32"}</text>')
    return (f'<svg class="chart pareto" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
            f'role="img" font-family="sans-serif" font-size="12">' + "".join(parts) + "</svg>")


def _step(span: float) -> float:
    raw = span / 5 or 0.01
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
