"""Inline SVG charts, drawn in Python: the report must open offline, with no script library.

Latency bars show the median with p10–p90 whiskers. When the figures on a chart
span more than MAX_LINEAR_SPAN (an XNNPACK run next to ArmNN's CpuRef easily
does), the axis is logarithmic so that the fast bars stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from .cells import Cell

MAX_LINEAR_SPAN = 20.0
WIDTH, LABEL_W, VALUE_W, ROW_H = 1100, 300, 80, 20
FONT = 'font-family="sans-serif" font-size="12"'
FAILED_COLOR = "#c0392b"

# (title, which cells it shows, what it says when there are none)
PANELS: tuple[tuple[str, Callable[[Cell], bool], str], ...] = (
    ("CPU: TFLite vs ArmNN", lambda c: c.hardware() == "CPU", "no CPU backend in these runs"),
    ("GPU: TFLite vs ArmNN", lambda c: c.hardware() == "GPU",
     "no GPU backend (tflite-gpu, ArmNN GpuAcc) in these runs"),
    ("ArmNN: CpuAcc vs GpuAcc", lambda c: bool({"CpuAcc", "GpuAcc"} & set(c.armnn_backends())),
     "no ArmNN CpuAcc or GpuAcc cell in these runs"),
)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    variant: str
    label: str
    hollow: bool = False  # agreement with the float model rather than accuracy on labelled data


class Axis:
    """Maps data values to pixels, linear or log10, with round tick values."""

    def __init__(self, lo: float, hi: float, start: int, end: int, log: bool | None = None) -> None:
        self.log = (lo > 0 and hi / lo > MAX_LINEAR_SPAN) if log is None else log
        if self.log:
            self.lo, self.hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
        else:
            step = _nice_step((hi - min(lo, 0.0)) / 5 or 1.0)
            self.lo, self.hi = min(0.0, math.floor(lo / step) * step), math.ceil(hi / step) * step or step
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.lo)
            share = (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            share = (value - self.lo) / (self.hi - self.lo)
        return self.start + share * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0 ** e for e in range(round(math.log10(self.lo)), round(math.log10(self.hi)) + 1)]
        step = _nice_step((self.hi - self.lo) / 5)
        return [self.lo + i * step for i in range(int(round((self.hi - self.lo) / step)) + 1)]


def latency_panels(cells: list[Cell], colors: dict[str, str]) -> list[tuple[str, str]]:
    """(title, svg) for each comparison panel of one board; a panel with no cells says "no data"."""
    panels = []
    for title, wanted, empty in PANELS:
        chosen = [c for c in cells if wanted(c)]
        panels.append((title, bar_chart(chosen, colors) if chosen else no_data(f"no data: {empty}")))
    return panels


def bar_chart(cells: list[Cell], colors: dict[str, str]) -> str:
    """Rows grouped by model; each row one variant on one backend, coloured by variant."""
    measured = [lat for lat in (c.latency() for c in cells) if lat]
    lows = [low for low in (lat.p10 if lat.p10 is not None else lat.p50 for lat in measured) if low > 0]
    highs = [lat.p90 if lat.p90 is not None else lat.p50 for lat in measured]
    axis = Axis(min(lows, default=0.001), max(highs, default=1.0), LABEL_W, WIDTH - VALUE_W)
    y, body = 34, []
    for model in dict.fromkeys(c.model for c in cells):
        body.append(f'<text x="6" y="{y + 14}" font-weight="bold">{escape(model)}</text>')
        y += ROW_H
        for cell in (c for c in cells if c.model == model):
            body.append(_bar_row(cell, axis, colors, y))
            y += ROW_H
    legend = _legend([c.variant for c in cells], colors, 6)
    if not measured:  # only failed cells: an axis would suggest a scale nothing was measured on
        return _svg(y + 8, legend + body)
    return _svg(y + 40, legend + _x_axis(axis, 24, y + 4, "latency, ms (p50 bar, p10–p90 whisker)") + body)


def scatter(points: list[Point], x_label: str, y_label: str, colors: dict[str, str],
            log_x: bool | None = None) -> str:
    """A trade-off plot: filled dots are accuracy on labelled data, hollow ones agreement with float."""
    height, top, bottom = 340, 34, 290
    xs, ys = [p.x for p in points], [p.y for p in points]
    x_axis = Axis(min(xs), max(xs), 70, WIDTH - 30, log_x)
    y_axis = Axis(0.0, max(1.0, max(ys)), bottom, top, log=False)
    parts = _legend([p.variant for p in points], colors, 70) + _x_axis(x_axis, top, bottom, x_label)
    for value in y_axis.ticks():
        y = y_axis(value)
        parts.append(f'<line x1="70" x2="{WIDTH - 30}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                     f'<text x="64" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    parts.append(f'<text transform="translate(16 {(top + bottom) / 2}) rotate(-90)" text-anchor="middle">'
                 f'{escape(y_label)}</text>')
    for p in points:
        color = colors.get(p.variant, "#888")
        parts.append(f'<circle class="point" cx="{x_axis(p.x):.1f}" cy="{y_axis(p.y):.1f}" r="6" '
                     f'fill="{"white" if p.hollow else color}" stroke="{color}" stroke-width="2">'
                     f'<title>{escape(p.label)}</title></circle>')
    return _svg(height, parts)


def no_data(why: str) -> str:
    return _svg(60, [f'<rect class="empty" x="0.5" y="0.5" width="{WIDTH - 1}" height="59" fill="#fafafa" '
                     f'stroke="#ccc" stroke-dasharray="4 3"/>',
                     f'<text x="{WIDTH / 2}" y="35" text-anchor="middle" fill="#777">{escape(why)}</text>'])


def _bar_row(cell: Cell, axis: Axis, colors: dict[str, str], y: float) -> str:
    label = f'<text x="{LABEL_W - 8}" y="{y + 14}" text-anchor="end">{escape(cell.variant)} · ' \
            f'{escape(cell.backend)}</text>'
    lat = cell.latency()
    if lat is None:
        reason = f"FAILED ({cell.status}): {cell.reason}"
        short = reason if len(reason) < 120 else reason[:117] + "…"
        return label + (f'<text class="failed" x="{LABEL_W + 4}" y="{y + 14}" fill="{FAILED_COLOR}">'
                        f'{escape(short)}<title>{escape(reason)}</title></text>')
    x0, x50, mid = axis.start, axis(lat.p50), y + 10
    tip = f"{cell.model} {cell.variant} {cell.backend}: p50 {lat.p50:.4g} ms"
    whisker, right = "", x50
    if lat.p10 is not None and lat.p90 is not None:  # an external tool's summary has no percentiles
        x10, right = axis(lat.p10), max(axis(lat.p90), x50)
        tip += f", p10 {lat.p10:.4g}, p90 {lat.p90:.4g}"
        whisker = (f'<path class="whisker" d="M{x10:.1f} {mid}H{right:.1f}M{x10:.1f} {mid - 4}V{mid + 4}'
                   f'M{right:.1f} {mid - 4}V{mid + 4}" stroke="#222" stroke-width="1.2" fill="none"/>')
    return label + (
        f'<rect class="bar" x="{x0}" y="{y + 3}" width="{max(x50 - x0, 1):.1f}" height="14" '
        f'fill="{colors.get(cell.variant, "#888")}"><title>{escape(tip)}</title></rect>' + whisker +
        f'<text x="{right + 5:.1f}" y="{y + 14}" fill="#333">{lat.p50:.3g}</text>')


def _legend(variants: list[str], colors: dict[str, str], x: float) -> list[str]:
    parts = []
    for variant in dict.fromkeys(variants):
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colors.get(variant, "#888")}"/>'
                     f'<text x="{x + 16}" y="16">{escape(variant)}</text>')
        x += 28 + 7 * len(variant)
    return parts


def _x_axis(axis: Axis, top: float, bottom: float, label: str) -> list[str]:
    parts = [f'<line x1="{axis.start}" x2="{axis.end}" y1="{bottom}" y2="{bottom}" stroke="#555"/>']
    for value in axis.ticks():
        x = axis(value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="#e3e3e3"/>'
                     f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{value:g}</text>')
    scale = ", log scale" if axis.log else ""
    parts.append(f'<text x="{(axis.start + axis.end) / 2}" y="{bottom + 30}" text-anchor="middle">'
                 f'{escape(label + scale)}</text>')
    return parts


def _svg(height: float, parts: list[str]) -> str:
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
            f'role="img" {FONT}>' + "".join(parts) + "</svg>")


def _nice_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
