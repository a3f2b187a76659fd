"""Inline SVG charts, drawn in Python: the report must open offline, with no script library.

SVG written here rather than an inlined plotting library: the report stays a small
file that renders the same in any browser and in a mail client's preview, and a test
can read each mark from the DOM. Latency distributions are in distribution.py; here
are the axis and the trade-off scatter plots, whose x axis turns logarithmic when the
figures span more than MAX_LINEAR_SPAN (labelled "log scale" on the axis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

MAX_LINEAR_SPAN = 20.0
WIDTH, LABEL_W, VALUE_W, ROW_H = 1100, 300, 80, 20
FONT = 'font-family="sans-serif" font-size="12"'
FAILED_COLOR = "#c0392b"

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
