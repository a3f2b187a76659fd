"""Cells: one backend's measurement of one model variant on one board, the unit every report shows.

The optional parts of a result (correctness, coverage, telemetry; see
docs/result-schema.md) are read through the typed record (agent/records.py,
agent/sections.py) and placed here, so each format and chart sees one shape and an
absent section reads as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.agent.records import BackendResult
from edgeq.agent.sections import Check

from .load import Run
from .variants import VariantRecord, identify, match_analysis, sidecar_for

# The report's names for the figures of a backend's `telemetry.energy` (agent/sections.py's Energy).
ENERGY_FIGURES = ("mj", "mj_above_idle", "power_w", "idle_w")


@dataclass(frozen=True)
class Latency:
    """Milliseconds over the measured runs; p10 and p90 (the chart's whiskers) are None without raw samples."""

    p10: float | None
    p50: float
    p90: float | None
    mean: float | None
    std: float | None
    count: int


@dataclass(frozen=True)
class Cell:
    """One backend entry of one run, placed by board, model, variant and backend label."""

    run: Run
    board: str
    model: str
    variant: str
    backend: str
    threads: Any
    entry: BackendResult
    sidecar: VariantRecord | None
    analysis: VariantRecord | None

    @property
    def ok(self) -> bool:
        return self.entry.ok

    @property
    def status(self) -> str:
        return self.entry.status

    @property
    def reason(self) -> str:
        return str(self.entry.reason or ("" if self.ok else "no reason given"))

    @property
    def size_bytes(self) -> int | None:
        return self.run.record.model_section.size_bytes

    @property
    def samples_ns(self) -> np.ndarray:
        return np.asarray(self.entry.samples_ns, dtype=np.float64)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What `compare` matches a cell by across two sets of runs."""
        return self.board, self.model, self.variant, self.backend

    def latency(self) -> Latency | None:
        """From the raw samples when kept (p10 is not in stats); an external tool's summary has only its own."""
        if not self.ok:
            return None
        stats, samples = self.entry.timing, self.samples_ns / 1e6
        if samples.size:
            p10, p50, p90 = (float(v) for v in np.percentile(samples, [10, 50, 90]))
        else:
            p10, p50, p90 = None, stats.p50_ms, stats.p90_ms
        if p50 is None:
            return None
        return Latency(p10, p50, p90, stats.mean_ms, stats.std_ms, int(stats.count or 0))

    def hardware(self) -> str:
        """CPU or GPU, by what the backend ran on, for the chart panels."""
        if self.entry.backend == "tflite-gpu" or "GpuAcc" in self.armnn_backends()[:1]:
            return "GPU"
        return "CPU"

    def armnn_backends(self) -> list[str]:
        """The ArmNN compute backends used, or asked for when the cell failed; [] for other runtimes."""
        if self.entry.backend != "armnn":
            return []
        used = self.entry.info.armnn_backends
        asked = str(self.entry.options.get("backends") or "")
        return list(used) if used else [b for b in asked.replace("+", ",").split(",") if b]

    def energy(self) -> dict[str, float] | None:
        """Energy per inference (mJ) and average power (W) when the board measured power."""
        energy = self.entry.energy
        if energy is None:
            return None
        found = {name: getattr(energy, name) for name in ENERGY_FIGURES}
        return {k: float(v) for k, v in found.items() if v is not None} or None

    def throttled(self) -> bool:
        """The latency was taken slowed down: throttling or a clock drop in the measured window."""
        return self.entry.throttled

    def correctness(self) -> Check | None:
        """This backend's output check against the reference (result `correctness.backends.<label>`)."""
        return self.run.record.checks.checks.get(self.backend)

    def reference_kind(self) -> str | None:
        """What the outputs were checked against: "same-model" or "float-model" (None without a check)."""
        kind = self.run.record.checks.reference_kind
        return str(kind) if kind else None

    def passed(self) -> bool | None:
        """True/False when an output check ran, None when none did."""
        check = self.correctness()
        return check.passed if check else None

    def fallback_ops(self) -> list[str] | None:
        """`OP (reason)` for each op the backend left to the CPU; [] when it ran all; None when not reported."""
        coverage = self.entry.coverage
        if coverage is None:
            return None
        ops = [f"{o.op or '?'} ({o.reason})" if o.reason else str(o.op or "?") for o in coverage.fallback_ops]
        if ops or coverage.fully_delegated is True:
            return ops
        return ["ops not named"] if coverage.fully_delegated is False else None

    def accuracy(self) -> tuple[str, float] | None:
        """("accuracy"|"agreement", value): measured by this backend on the board (`profile --eval`), else the
        analysis table's, else top-1 agreement with a float reference."""
        on_board = self.entry.accuracy
        if on_board and on_board.top1 is not None:
            return "accuracy", float(on_board.top1)
        if self.analysis and self.analysis.accuracy is not None:
            return "accuracy", self.analysis.accuracy
        if self.analysis and self.analysis.agreement is not None:
            return "agreement", self.analysis.agreement
        check = self.correctness()
        if self.reference_kind() == "float-model" and check and check.top1_agree is not None:
            return "agreement", float(check.top1_agree)
        return None


def build_cells(runs: list[Run], analyses: list[VariantRecord]) -> list[Cell]:
    """All cells of all runs, each with its variant's sidecar and analysis row when there are some."""
    cells = []
    for run in runs:
        sidecar = sidecar_for(run)
        model, variant = identify(run, sidecar)
        record = run.record
        analysis = match_analysis(model, variant, record.model_section.size_bytes, analyses)
        board = record.board_section.name
        cells += [Cell(run, board, model, variant, e.label, record.threads, e, sidecar, analysis)
                  for e in record.backends]
    return cells
