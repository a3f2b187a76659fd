"""Cells: one backend's measurement of one model variant on one board, the unit every report shows.

The optional parts of a result (correctness, coverage, telemetry; see
docs/result-schema.md) are read here and only here, so each format and chart sees
one shape and an absent section reads as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .load import Run
from .variants import VariantRecord, identify, match_analysis, sidecar_for

# The report's names for the figures of a backend's `telemetry.energy`.
ENERGY_KEYS = {"mj": "energy_mj_per_inference", "mj_above_idle": "energy_mj_per_inference_above_idle",
               "power_w": "avg_power_w", "idle_w": "idle_power_w"}


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
    entry: dict[str, Any]
    sidecar: VariantRecord | None
    analysis: VariantRecord | None

    @property
    def ok(self) -> bool:
        return self.entry["status"] == "ok"

    @property
    def status(self) -> str:
        return str(self.entry["status"])

    @property
    def reason(self) -> str:
        return str(self.entry.get("reason") or ("" if self.ok else "no reason given"))

    @property
    def size_bytes(self) -> int | None:
        return self.run.result["model"].get("size_bytes")

    @property
    def samples_ns(self) -> np.ndarray:
        return np.asarray(self.entry.get("samples_ns") or [], dtype=np.float64)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What `compare` matches a cell by across two sets of runs."""
        return self.board, self.model, self.variant, self.backend

    def latency(self) -> Latency | None:
        """From the raw samples when kept (p10 is not in stats); an external tool's summary has only its own."""
        if not self.ok:
            return None
        stats, samples = self.entry["stats"], self.samples_ns / 1e6
        if samples.size:
            p10, p50, p90 = (float(v) for v in np.percentile(samples, [10, 50, 90]))
        else:
            p10, p50, p90 = None, stats.get("p50_ms"), stats.get("p90_ms")
        if p50 is None:
            return None
        return Latency(p10, p50, p90, stats.get("mean_ms"), stats.get("std_ms"), int(stats.get("count") or 0))

    def hardware(self) -> str:
        """CPU or GPU, by what the backend ran on, for the chart panels."""
        if self.entry.get("backend") == "tflite-gpu" or "GpuAcc" in self.armnn_backends()[:1]:
            return "GPU"
        return "CPU"

    def armnn_backends(self) -> list[str]:
        """The ArmNN compute backends used, or asked for when the cell failed; [] for other runtimes."""
        if self.entry.get("backend") != "armnn":
            return []
        used = (self.entry.get("info") or {}).get("armnn_backends")
        asked = str((self.entry.get("options") or {}).get("backends") or "")
        return list(used) if used else [b for b in asked.replace("+", ",").split(",") if b]

    def energy(self) -> dict[str, float] | None:
        """Energy per inference (mJ) and average power (W) when the board measured power."""
        source = (self.entry.get("telemetry") or {}).get("energy")
        if not isinstance(source, dict):
            return None
        found = {name: source.get(key) for name, key in ENERGY_KEYS.items()}
        return {k: float(v) for k, v in found.items() if isinstance(v, (int, float))} or None

    def throttled(self) -> bool:
        """The latency was taken slowed down: throttling or a clock drop in the measured window."""
        return (self.entry.get("telemetry") or {}).get("flagged") is True

    def correctness(self) -> dict[str, Any] | None:
        """This backend's output check against the reference (result `correctness.backends.<label>`)."""
        verdicts = (self.run.result.get("correctness") or {}).get("backends") or {}
        found = verdicts.get(self.backend)
        return found if isinstance(found, dict) else None

    def reference_kind(self) -> str | None:
        """What the outputs were checked against: "same-model" or "float-model" (None without a check)."""
        kind = ((self.run.result.get("correctness") or {}).get("reference") or {}).get("kind")
        return str(kind) if kind else None

    def passed(self) -> bool | None:
        """True/False when an output check ran, None when none did."""
        passed = (self.correctness() or {}).get("passed")
        return passed if isinstance(passed, bool) else None

    def fallback_ops(self) -> list[str] | None:
        """`OP (reason)` for each op the backend left to the CPU; [] when it ran all; None when not reported."""
        coverage = self.entry.get("coverage")
        if not isinstance(coverage, dict):
            return None
        ops = [f"{o.get('op', '?')} ({o['reason']})" if o.get("reason") else str(o.get("op", "?"))
               for o in coverage.get("fallback_ops") or [] if isinstance(o, dict)]
        if ops or coverage.get("fully_delegated") is True:
            return ops
        return ["ops not named"] if coverage.get("fully_delegated") is False else None

    def accuracy(self) -> tuple[str, float] | None:
        """("accuracy"|"agreement", value): measured by this backend on the board (`profile --eval`), else the
        analysis table's, else top-1 agreement with a float reference."""
        on_board = (self.entry.get("accuracy") or {}).get("top1")
        if isinstance(on_board, (int, float)):
            return "accuracy", float(on_board)
        if self.analysis and self.analysis.accuracy is not None:
            return "accuracy", self.analysis.accuracy
        if self.analysis and self.analysis.agreement is not None:
            return "agreement", self.analysis.agreement
        reference = (self.run.result.get("correctness") or {}).get("reference") or {}
        agree = (self.correctness() or {}).get("top1_agree")
        if reference.get("kind") == "float-model" and isinstance(agree, (int, float)):
            return "agreement", float(agree)
        return None


def build_cells(runs: list[Run], analyses: list[VariantRecord]) -> list[Cell]:
    """All cells of all runs, each with its variant's sidecar and analysis row when there are some."""
    cells = []
    for run in runs:
        sidecar = sidecar_for(run)
        model, variant = identify(run, sidecar)
        analysis = match_analysis(model, variant, run.result["model"].get("size_bytes"), analyses)
        threads = run.result["settings"].get("threads", "?")
        board = str(run.result["board"].get("name", "?"))
        cells += [Cell(run, board, model, variant, e["label"], threads, e, sidecar, analysis)
                  for e in run.result["backends"]]
    return cells
