"""The report's tables as text cells, shared by the HTML and Markdown formats.

A cell that could not be measured reads FAILED with its reason; a figure the runs
did not record reads "—", so a reader can tell "not measured" from "zero".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeq.agent.sections import Layer

from .cells import Cell
from .checks import check_figures
from .conditions import conditions_rows
from .data import ReportData
from .stats import setups
from .units import duration, percent, span

NONE = "—"
FAILED = "FAILED"


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    kinds: list[str] = field(default_factory=list)  # per row: "" or "failed" / "mismatch", for highlighting


def _num(value: Any, digits: int = 3) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def ms(value: float) -> str:
    """A duration in the unit that fits it: a 5 µs XNNPACK run and a 140 ms CpuRef run both stay readable."""
    return duration(value)


def _ident(cell: Cell) -> list[str]:
    return [cell.board, cell.model, cell.variant, cell.backend]


LATENCY_HEADERS = ["board", "model", "variant", "backend", "run", "threads", "status", "p50", "p50 95% CI",
                   "p10–p90", "mean ± std", "CV", "noise", "samples", "load", "1st run", "peak RSS MB"]


def latency_table(data: ReportData) -> Table:
    """One row per cell (a backend in one run); a noisy cell says why in its own column."""
    rows, kinds = [], []
    for cell in data.cells:
        rss = cell.entry.peak_rss_kb
        rss_text = f"{rss / 1024:.0f}" if rss else NONE
        lat = cell.latency()
        head = _ident(cell) + [cell.run.run_id, str(cell.threads)]
        if lat is None:
            rows.append(head + [f"{FAILED} ({cell.status})"] + [NONE] * 9 + [rss_text])
            kinds.append("failed")
            continue
        spread = span(lat.p10, lat.p90) if lat.p10 is not None and lat.p90 is not None else NONE
        mean = f"{ms(lat.mean)} ± {ms(lat.std)}" if lat.mean is not None and lat.std is not None else NONE
        cv = percent(lat.std / lat.mean) if lat.mean and lat.std is not None else NONE
        interval = data.interval(cell)
        ci = span(interval.low, interval.high) if interval else NONE
        noise = data.noise(cell)
        rows.append(head + [
            "ok", ms(lat.p50), ci, spread, mean, cv, f"NOISY: {noise}" if noise else "steady", str(lat.count),
            duration(cell.entry.load_ms), duration(cell.entry.first_inference_ms), rss_text])
        kinds.append("noisy" if noise else "")
    return Table(LATENCY_HEADERS, rows, kinds)


def repeats_table(data: ReportData) -> Table | None:
    """Setups measured in more than one run: each run's median by run id, and how far apart they are."""
    rows = []
    for setup in setups(data.cells):
        medians = [(c.run.run_id, c.latency().p50) for c in setup.ok if c.latency()]
        if len(medians) < 2:
            continue
        values = [m for _, m in medians]
        gap = max(values) / min(values) - 1 if min(values) > 0 else 0.0
        listed = "; ".join(f"{run}: {ms(m)}" for run, m in medians)
        interval = setup.interval
        rows.append(_ident(setup.first) + [str(len(medians)), listed, percent(gap),
                                           span(interval.low, interval.high) if interval else NONE])
    return Table(["board", "model", "variant", "backend", "runs", "median per run", "spread (max / min − 1)",
                  "pooled median 95% CI"], rows) if rows else None


def failed_table(data: ReportData) -> Table:
    rows = [_ident(c) + [c.status, c.reason] for c in data.failed]
    return Table(["board", "model", "variant", "backend", "status", "reason"], rows, ["failed"] * len(rows))


def quant_table(data: ReportData) -> Table:
    rows = [[r.model, r.variant, _num(r.size_bytes / 1024 if r.size_bytes else None, 1),
             f"{r.compression:.2f}×" if r.compression else NONE, _num(r.accuracy, 4), _num(r.agreement, 4),
             _num(r.sqnr_db, 1), r.source] for r in data.quant]
    return Table(["model", "variant", "size KB", "compression vs float", "accuracy", "top-1 agreement",
                  "SQNR dB", "from"], rows)


def energy_table(data: ReportData) -> Table | None:
    """None when no cell has power data, so the section can say so instead of showing an empty table."""
    rows = []
    for cell in data.cells:
        energy = cell.energy()
        if energy:
            rows.append(_ident(cell) + [_num(energy.get("mj"), 3), _num(energy.get("mj_above_idle"), 3),
                                        _num(energy.get("power_w"), 3), _num(energy.get("idle_w"), 3)])
    headers = ["board", "model", "variant", "backend", "energy mJ / inference (total)",
               "energy mJ / inference (above idle)", "average power W (measured runs)", "idle power W"]
    return Table(headers, rows) if rows else None


def correctness_table(data: ReportData) -> Table:
    rows, kinds = [], []
    for cell in data.cells:
        passed = cell.passed()
        check = {None: "not checked", True: "pass", False: "MISMATCH"}[passed]
        metrics = check_figures(cell.correctness(), cell.reference_kind())
        ops = cell.fallback_ops()
        fallback = "not reported" if ops is None else (", ".join(ops) or "none")
        on_board = cell.entry.accuracy
        accuracy = f"{on_board.top1:.4f} on {'?' if on_board.samples is None else on_board.samples}" \
            if on_board and on_board.top1 is not None else NONE
        rows.append(_ident(cell) + [cell.run.run_id, "ran" if cell.ok else FAILED, check, metrics, accuracy, fallback,
                                    _placement(cell)])
        kinds.append("failed" if not cell.ok else "mismatch" if passed is False else "")
    return Table(["board", "model", "variant", "backend", "run", "ran", "output check", "check figures (floor)",
                  "top-1 accuracy on the board", "ops that fell back", "ran on"], rows, kinds)


def layers_table(data: ReportData, top: int = 3) -> Table | None:
    """The slowest layers each backend's own profiler saw (ArmNN's), None when no runtime reported any."""
    rows = []
    for cell in data.cells:
        for layer in cell.entry.layers[:top]:
            median = layer.median_us
            rows.append(_ident(cell) + [cell.run.run_id, layer_name(layer), str(layer.backend or NONE),
                                        duration(median / 1000) if median is not None else NONE])
    return Table(["board", "model", "variant", "backend", "run", "layer", "ran on", "median"], rows) if rows else None


def layer_name(layer: Layer) -> str:
    """The layer's id when the profiler gave one (ArmNN names every convolution alike), else its name."""
    return str(layer.id or layer.name or "?")


def conditions_tables(data: ReportData) -> list[tuple[str, Table]]:
    """One field/value table per group of runs taken in the same conditions, titled with their run ids."""
    groups: dict[tuple, list[dict[str, str]]] = {}
    for row in conditions_rows(data.runs):
        facts = {k: v for k, v in row.items() if k not in ("run", "started (UTC)")}
        groups.setdefault(tuple(facts.items()), []).append(row)
    tables = []
    for key, rows in groups.items():
        started = sorted(r["started (UTC)"] for r in rows)
        span = started[0] if len(started) == 1 else f"{started[0]} to {started[-1]}"
        title = f"{len(rows)} run{'s' if len(rows) > 1 else ''} started {span}: {', '.join(r['run'] for r in rows)}"
        tables.append((title, Table(["condition", "value"], [[k, v] for k, v in key])))
    return tables


def _placement(cell: Cell) -> str:
    info = cell.entry.info
    parts = []
    if cell.armnn_backends():
        parts.append("ArmNN " + ", ".join(cell.armnn_backends()))
    if info.accelerator:
        parts.append(str(info.accelerator))
    if info.fully_accelerated is not None:
        parts.append("fully accelerated" if info.fully_accelerated else "partly accelerated")
    if info.xnnpack:
        parts.append("XNNPACK")
    return ", ".join(parts) or cell.hardware()
