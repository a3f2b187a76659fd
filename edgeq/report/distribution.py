"""Latency as distributions, drawn from the raw samples: one SVG chart per model and board.

Each row is one cell (a backend in one run, labelled by its run id): a box from the
25th to the 75th percentile, whiskers from the 5th to the 95th, the median as a
thick tick with its value written beside it, and the samples themselves as faint
dots (at most MAX_POINTS per row, evenly picked from the sorted samples so the
shape stays true). Rows are grouped by backend and coloured by quantization type.
Axes are linear and start at zero, so a 2× difference looks like one; the unit follows
the figures (µs, ms, s). Backends share one axis unless their slowest figures differ by
more than MAX_SHARED_SPAN: then each backend gets its own (a 5 µs XNNPACK cell beside a
2 ms CpuRef one would be a dot), the chart says so, and the medians written on the right
compare them. Samples beyond an axis (which ends a little past its largest 95th percentile, so
stalls cannot squash every box) are counted on the row.
"""

from __future__ import annotations

from html import escape

import numpy as np

from .cells import Cell
from .charts import FAILED_COLOR, WIDTH, Axis, _legend, _svg
from .units import duration, unit_for

LABEL_W, RIGHT_W, ROW_H, GROUP_H = 330, 150, 24, 22
MAX_POINTS = 160
MAX_SHARED_SPAN = 5.0  # backends whose slowest figures differ more get an axis each
NOISY_COLOR = "#b35900"


def run_label(cell: Cell) -> str:
    """A run id shortened to its start time (run ids are `<UTC start>-<board>-<model>`)."""
    run_id = cell.run.run_id
    return run_id.split("-", 1)[0] if "-" in run_id else run_id


def distribution_chart(cells: list[Cell], colors: dict[str, str], noisy: dict[int, str]) -> str:
    """Every cell of one model on one board; `noisy` maps id(cell) to why its latency is noisy."""
    sampled = {id(c): np.sort(c.samples_ns) / 1e6 for c in cells if c.ok and c.samples_ns.size}
    groups = {b: [c for c in cells if c.backend == b] for b in dict.fromkeys(c.backend for c in cells)}
    tops = {b: _top(group, sampled) for b, group in groups.items()}
    measured = [t for t in tops.values() if t > 0]
    shared = not measured or max(measured) / min(measured) <= MAX_SHARED_SPAN
    what = "box p25–p75, whiskers p5–p95, tick and label: median, dots: samples"
    y, body = 30, []
    for backend, group in groups.items():
        axis = Axis(0.0, (max(tops.values()) if shared else tops[backend] or 1.0) * 1.02, LABEL_W,
                    WIDTH - RIGHT_W, log=False)
        body.append(f'<text x="6" y="{y + 15}" font-weight="bold">{escape(backend)}</text>')
        y += GROUP_H
        top = y
        for cell in group:
            body.append(_row(cell, sampled.get(id(cell)), axis, colors, noisy.get(id(cell)), y))
            y += ROW_H
        if not shared:  # each backend on its own axis: a 400x gap would leave the fast ones a dot
            unit, scale = unit_for(axis.hi)
            body += _ticks(axis, top, y + 4, scale, f"{backend}: latency, {unit}, linear from 0")
            y += 44
    legend = _legend([c.variant for c in cells], colors, 6)
    if shared:
        axis = Axis(0.0, max(tops.values(), default=1.0) * 1.02, LABEL_W, WIDTH - RIGHT_W, log=False)
        unit, scale = unit_for(axis.hi)
        body += _ticks(axis, 24, y + 4, scale, f"latency, {unit} (linear from 0; {what})")
        y += 40
    else:
        body.append(f'<text x="{LABEL_W}" y="{y + 10}" fill="#555">Backends differ by more than {MAX_SHARED_SPAN:g}×: '
                    f'each has its own linear axis from 0; compare them by the medians on the right. {what}.</text>')
        y += 20
    return _svg(y, legend + body)


def _top(cells: list[Cell], sampled: dict[int, np.ndarray]) -> float:
    """Where a group's axis ends: a little past its largest 95th percentile, the whiskers' end (a summary's p90
    or p50 without samples); stalls beyond it are counted on their rows, not allowed to squash every box."""
    tops = [1.1 * float(np.percentile(sampled[id(c)], 95)) for c in cells if id(c) in sampled]
    tops += [lat.p90 or lat.p50 for lat in (c.latency() for c in cells if id(c) not in sampled) if lat]
    return max(tops, default=0.0)


def _row(cell: Cell, samples: np.ndarray | None, axis: Axis, colors: dict[str, str], noise: str | None,
         y: float) -> str:
    mark = " ⚠ noisy" if noise else ""
    label = (f'<text x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end">{escape(cell.variant)} · run '
             f'{escape(run_label(cell))}<tspan fill="{NOISY_COLOR}">{mark}</tspan>'
             f'<title>{escape(cell.run.run_id)}{": noisy, " + escape(noise) if noise else ""}</title></text>')
    lat = cell.latency()
    if lat is None:
        reason = f"FAILED ({cell.status}): {cell.reason}"
        short = reason if len(reason) < 110 else reason[:107] + "…"
        return label + (f'<text class="failed" x="{LABEL_W + 4}" y="{y + 16}" fill="{FAILED_COLOR}">'
                        f'{escape(short)}<title>{escape(reason)}</title></text>')
    color, mid = colors.get(cell.variant, "#888"), y + 12
    if samples is None:  # an external tool's summary: a median tick only
        x = axis(lat.p50)
        return label + (f'<line class="median" x1="{x:.1f}" x2="{x:.1f}" y1="{mid - 8}" y2="{mid + 8}" '
                        f'stroke="{color}" stroke-width="3"/>' + _value(axis, lat.p50, mid))
    p5, p25, p50, p75, p95 = (float(v) for v in np.percentile(samples, [5, 25, 50, 75, 95]))
    beyond = int(np.sum(samples > axis.hi))
    picked = samples[np.linspace(0, samples.size - 1, min(MAX_POINTS, samples.size)).round().astype(int)]
    jitter = np.random.default_rng(samples.size).uniform(-6, 6, picked.size)
    dots = "".join(f'<circle cx="{axis(min(v, axis.hi)):.1f}" cy="{mid + j:.1f}" r="1.6"/>'
                   for v, j in zip(picked, jitter))
    tip = (f"{cell.model} {cell.variant} {cell.backend}, run {cell.run.run_id}: median {duration(p50)}, "
           f"p25–p75 {duration(p25)}–{duration(p75)}, p5–p95 {duration(p5)}–{duration(p95)}, "
           f"{samples.size} samples")
    x5, x25, x50, x75, x95 = (axis(min(v, axis.hi)) for v in (p5, p25, p50, p75, p95))
    parts = [
        f'<g class="dots" fill="{color}" fill-opacity="0.35">{dots}</g>',
        f'<path d="M{x5:.1f} {mid}H{x25:.1f}M{x75:.1f} {mid}H{x95:.1f}M{x5:.1f} {mid - 4}V{mid + 4}'
        f'M{x95:.1f} {mid - 4}V{mid + 4}" stroke="#333" fill="none"/>',
        f'<rect class="box" data-median-ms="{p50:.6g}" x="{x25:.1f}" y="{mid - 6}" width="{max(x75 - x25, 1):.1f}" '
        f'height="12" fill="{color}" stroke="{color}"><title>{escape(tip)}</title></rect>',
        f'<line class="median" x1="{x50:.1f}" x2="{x50:.1f}" y1="{mid - 8}" y2="{mid + 8}" stroke="#111" '
        f'stroke-width="2.5"/>',
        _value(axis, p50, mid),
    ]
    if beyond:
        parts.append(f'<text x="{axis.end + 70:.1f}" y="{mid + 4}" fill="#777" font-size="11">+{beyond} beyond'
                     f'</text>')
    return label + "".join(parts)


def _value(axis: Axis, p50: float, mid: float) -> str:
    return f'<text class="median-label" x="{axis.end + 6:.1f}" y="{mid + 4}" fill="#111">{duration(p50)}</text>'


def _ticks(axis: Axis, top: float, bottom: float, scale: float, label: str) -> list[str]:
    parts = [f'<line x1="{axis.start}" x2="{axis.end}" y1="{bottom}" y2="{bottom}" stroke="#555"/>']
    for value in axis.ticks():
        x = axis(value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="#e3e3e3"/>'
                     f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{value / scale:g}</text>')
    parts.append(f'<text x="{(axis.start + axis.end) / 2}" y="{bottom + 30}" text-anchor="middle">'
                 f'{escape(label)}</text>')
    return parts


def layers_chart(cells: list[Cell], top: int = 5) -> str | None:
    """The slowest layers each backend's profiler saw, by id, side by side per backend; None when none did."""
    from .tables import layer_name

    shown = {}
    for cell in cells:  # the first run of each backend and variant that reported layers
        layers = [la for la in cell.entry.layers if la.median_us is not None]
        if layers and (cell.backend, cell.variant) not in shown:
            shown[(cell.backend, cell.variant)] = sorted(layers, key=lambda la: -(la.median_us or 0))[:top]
    if not shown:
        return None
    panels = []
    for (backend, variant), layers in shown.items():
        most = max(la.median_us or 0 for la in layers) / 1000
        bars, y = [], 26
        for layer in layers:
            value = (layer.median_us or 0) / 1000
            width = 200 * value / most if most else 0
            bars.append(f'<text x="4" y="{y + 12}" font-size="11">{escape(layer_name(layer))}</text>'
                        f'<rect x="4" y="{y + 16}" width="{max(width, 1):.1f}" height="9" fill="#4477aa"/>'
                        f'<text x="{width + 8:.1f}" y="{y + 25}" font-size="11">{duration(value)}</text>')
            y += 34
        panels.append(f'<svg class="layers" viewBox="0 0 330 {y + 4}" width="330" height="{y + 4}" '
                      f'font-family="sans-serif" font-size="12"><text x="4" y="16" font-weight="bold">'
                      f'{escape(backend)} · {escape(variant)}</text>{"".join(bars)}</svg>')
    return '<div class="layer-panels">' + "".join(panels) + "</div>"
