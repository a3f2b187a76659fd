"""Everything a report shows, gathered once from the runs so that every format tells the same story."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cells import Cell, build_cells
from .load import Run
from .stats import NOISE_RULE, Interval, median_interval, noise_reason
from .variants import VariantRecord, read_analyses, variant_rank
from .verdict import DEFAULT_MAX_ACCURACY_DROP, Verdict, verdicts

# Colour per quantization type, in ORDER: Paul Tol's bright then muted schemes, which stay
# apart for the common colour blindnesses and are not grey (the axes) or red (failures).
PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#332288", "#44aa99", "#999933",
           "#882255", "#ee7733")


@dataclass(frozen=True)
class Notice:
    """A line of the report's warnings; `kind` (warning, emulated, failed, mismatch, throttled, noisy) sets its
    colour."""

    kind: str
    text: str
    details: tuple[str, ...] = ()  # one line per cell, shown folded under the notice


@dataclass(frozen=True)
class QuantRow:
    """One line of the quantization analysis table: a model in one quantization type."""

    model: str
    variant: str
    size_bytes: int | None
    compression: float | None  # float size / this size
    accuracy: float | None
    agreement: float | None
    sqnr_db: float | None
    source: str  # where the numbers came from: how many runs, which analysis files

    def score(self) -> tuple[str, float] | None:
        """("accuracy"|"agreement", value) for the trade-off plot: accuracy on labels when known."""
        if self.accuracy is not None:
            return "accuracy", self.accuracy
        return ("agreement", self.agreement) if self.agreement is not None else None


@dataclass
class ReportData:
    runs: list[Run]
    cells: list[Cell]
    analyses: list[VariantRecord]
    quant: list[QuantRow] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)
    colors: dict[str, str] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    intervals: dict[int, Interval | None] = field(default_factory=dict)  # by id(cell): this run's median CI
    noisy: dict[int, str] = field(default_factory=dict)  # by id(cell): why its latency is noisy
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP

    def noise(self, cell: Cell) -> str | None:
        """Why this cell's latency is noisy (see report/stats.py for the thresholds), or None."""
        return self.noisy.get(id(cell))

    def interval(self, cell: Cell) -> Interval | None:
        return self.intervals.get(id(cell))

    @property
    def boards(self) -> list[str]:
        return sorted({c.board for c in self.cells})

    @property
    def failed(self) -> list[Cell]:
        return [c for c in self.cells if not c.ok]

    @property
    def has_quant_metrics(self) -> bool:
        return any(r.accuracy is not None or r.agreement is not None or r.sqnr_db is not None for r in self.quant)


def collect(runs: list[Run], analysis_files: list[Path] | None = None,
            max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP) -> ReportData:
    """Cells, the verdict, the quantization table and the warnings of `runs`, plus any analysis tables given or
    found."""
    analyses = read_analyses(runs, analysis_files or [])
    cells = sorted(build_cells(runs, analyses), key=_order(runs))
    variants = sorted({c.variant for c in cells} | {a.variant for a in analyses}, key=variant_rank)
    colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(variants)}
    data = ReportData(runs, cells, analyses, colors=colors, max_accuracy_drop=max_accuracy_drop)
    data.quant = quant_rows(cells, analyses)
    for cell in cells:
        data.intervals[id(cell)] = median_interval([cell.samples_ns]) if cell.ok else None
        why = noise_reason(cell, data.intervals[id(cell)])
        if why:
            data.noisy[id(cell)] = why
    data.verdicts = verdicts(cells, max_accuracy_drop)
    data.warnings = warnings(data)
    return data


def quant_rows(cells: list[Cell], analyses: list[VariantRecord]) -> list[QuantRow]:
    """Sizes from the runs themselves, metrics from analysis tables: plain runs still fill the size column."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in cells:
        row = rows.setdefault((cell.model, cell.variant), {"runs": set(), "files": set()})
        row.setdefault("size_bytes", cell.size_bytes)
        if cell.sidecar and cell.sidecar.float_size_bytes:
            row["float_size_bytes"] = cell.sidecar.float_size_bytes
        row["runs"].add(cell.run.run_id)
    placed = {id(c.analysis): (c.model, c.variant) for c in cells if c.analysis}
    for analysis in analyses:
        key = placed.get(id(analysis), (analysis.model, analysis.variant))
        row = rows.setdefault(key, {"runs": set(), "files": set()})
        for name in ("size_bytes", "compression", "accuracy", "agreement", "sqnr_db"):
            if getattr(analysis, name) is not None:
                row[name] = getattr(analysis, name)
        row["files"].add(analysis.source.name)
    result = []
    for (model, variant), row in sorted(rows.items(), key=lambda kv: (kv[0][0], variant_rank(kv[0][1]))):
        size = row.get("size_bytes")
        float_size = row.get("float_size_bytes") or (rows.get((model, "fp32")) or {}).get("size_bytes")
        compression = row.get("compression") or (float_size / size if float_size and size else None)
        runs = len(row["runs"])
        source = ([f"measured in {runs} run{'s' if runs > 1 else ''}"] if runs else []) + sorted(row["files"])
        result.append(QuantRow(model, variant, size, compression, row.get("accuracy"), row.get("agreement"),
                               row.get("sqnr_db"), ", ".join(source)))
    return result


def warnings(data: ReportData) -> list[Notice]:
    """What a reader must see before any figure: each distinct warning once, with where it applies."""
    found: dict[str, list[str]] = {}
    for run in data.runs:
        where = f"{run.record.board_section.name}/{run.record.model_section.name}"
        for text in run.record.warnings or []:
            found.setdefault(str(text), []).append(where)
    out = [Notice(_kind(text), f"{text} ({', '.join(where)})") for text, where in found.items()]
    for board in sorted({r.record.board_section.name for r in data.runs if r.record.board_section.emulated}):
        if not any(w.kind == "emulated" and f"{board}/" in w.text for w in out):
            out.append(Notice("emulated", f"board {board} is emulated: its timings are not representative"))
    out += [Notice("throttled", f"{_where(c)}: measured while throttled or with a clock drop") for c in data.cells
            if c.throttled()]
    noisy = [c for c in data.cells if data.noise(c)]
    if noisy:
        listed = tuple(f"{c.model} {c.variant} {c.backend}, run {c.run.run_id}: {data.noise(c)}" for c in noisy)
        out.append(Notice("noisy", f"{len(noisy)} of {len(data.cells)} cells noisy: {NOISE_RULE}", listed))
    failures: dict[tuple[str, str, str, str], list[str]] = {}
    for cell in data.failed:
        failures.setdefault((cell.board, cell.backend, cell.status, cell.reason), []).append(
            f"{cell.model} {cell.variant}")
    out += [Notice("failed", f"{backend} {status.upper()} on {board} for {', '.join(where)}: {reason}")
            for (board, backend, status, reason), where in failures.items()]
    return out


def _kind(text: str) -> str:
    """The agent and the host write warnings as text; these words mark the ones that get their own colour."""
    return "emulated" if "emulated" in text else "mismatch" if "do not match" in text else "warning"


def _where(cell: Cell) -> str:
    return f"{cell.board} · {cell.model} · {cell.variant} · {cell.backend}"


def _order(runs: list[Run]) -> Any:
    position = {id(r): i for i, r in enumerate(runs)}

    def key(cell: Cell) -> tuple:
        index = next(i for i, e in enumerate(cell.run.record.backends) if e is cell.entry)
        return cell.board, cell.model, variant_rank(cell.variant), index, position[id(cell.run)]
    return key
