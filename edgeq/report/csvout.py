"""The CSV report: one row per (board, model, variant, backend, threads), to load into pandas.

Numeric columns are plain numbers in the unit their name ends with (every duration in
milliseconds: `p50_ms`; `cv_percent` in percent; KB, mJ, W) and a missing figure is
an empty field, so `pandas.read_csv` gives float columns with NaN. `p50` repeats the
median as people read it (`5.45 µs`, `2.09 ms`). `noisy` is true when the cell's
latency is noisy (report/stats.py), `noise` says why.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from . import formats
from .data import ReportData
from .units import duration

COLUMNS = ("board", "emulated", "model", "variant", "backend", "threads", "status", "reason",
           "p50", "p10_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cv_percent", "noisy", "noise", "runs",
           "load_ms", "first_inference_ms",
           "peak_rss_kb", "size_kb", "energy_mj_per_inference", "energy_mj_above_idle", "avg_power_w",
           "accuracy_kind", "accuracy", "output_check", "fallback_ops", "runtime", "runtime_version", "run_id")


@formats.register("csv", "csv")
def render(data: ReportData) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in data.cells:
        lat, stats, energy = cell.latency(), cell.entry.timing, cell.energy() or {}
        info, accuracy, ops = cell.entry.info, cell.accuracy(), cell.fallback_ops()
        row: dict[str, Any] = {
            "board": cell.board, "emulated": cell.run.record.board_section.emulated, "model": cell.model,
            "variant": cell.variant, "backend": cell.backend, "threads": cell.threads, "status": cell.status,
            "reason": cell.reason, "p10_ms": lat and lat.p10, "p50_ms": lat and lat.p50, "p90_ms": lat and lat.p90,
            "p99_ms": stats.p99_ms, "mean_ms": lat and lat.mean, "std_ms": lat and lat.std,
            "cv_percent": 100 * lat.std / lat.mean if lat and lat.mean and lat.std is not None else None,
            "p50": duration(lat.p50) if lat else None, "noisy": bool(data.noise(cell)), "noise": data.noise(cell),
            "runs": lat and lat.count, "load_ms": cell.entry.load_ms,
            "first_inference_ms": cell.entry.first_inference_ms, "peak_rss_kb": cell.entry.peak_rss_kb,
            "size_kb": cell.size_bytes / 1024 if cell.size_bytes else None,
            "energy_mj_per_inference": energy.get("mj"), "energy_mj_above_idle": energy.get("mj_above_idle"),
            "avg_power_w": energy.get("power_w"), "accuracy_kind": accuracy and accuracy[0],
            "accuracy": accuracy and accuracy[1],
            "output_check": {None: "", True: "pass", False: "mismatch"}[cell.passed()],
            "fallback_ops": "" if ops is None else " ".join(ops) or "none",
            "runtime": info.runtime, "runtime_version": info.runtime_version,
            "run_id": cell.run.run_id,
        }
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
