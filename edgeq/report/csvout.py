"""The CSV report: one row per (board, model, variant, backend, threads), to load into pandas.

Numbers are plain (ms, KB, mJ, W; no units in cells) and a missing figure is an
empty field, so `pandas.read_csv` gives float columns with NaN.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from . import formats
from .data import ReportData

COLUMNS = ("board", "emulated", "model", "variant", "backend", "threads", "status", "reason",
           "p10_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cv", "runs", "load_ms", "first_inference_ms",
           "peak_rss_kb", "size_kb", "energy_mj_per_inference", "energy_mj_above_idle", "avg_power_w",
           "accuracy_kind", "accuracy", "output_check", "fallback_ops", "runtime", "runtime_version", "run_id")


@formats.register("csv", "csv")
def render(data: ReportData) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in data.cells:
        lat, stats, energy = cell.latency(), cell.entry.get("stats") or {}, cell.energy() or {}
        info, accuracy, ops = cell.entry.get("info") or {}, cell.accuracy(), cell.fallback_ops()
        row: dict[str, Any] = {
            "board": cell.board, "emulated": bool(cell.run.result["board"].get("emulated")), "model": cell.model,
            "variant": cell.variant, "backend": cell.backend, "threads": cell.threads, "status": cell.status,
            "reason": cell.reason, "p10_ms": lat and lat.p10, "p50_ms": lat and lat.p50, "p90_ms": lat and lat.p90,
            "p99_ms": stats.get("p99_ms"), "mean_ms": lat and lat.mean, "std_ms": lat and lat.std,
            "cv": stats.get("cv"), "runs": lat and lat.count, "load_ms": cell.entry.get("load_ms"),
            "first_inference_ms": cell.entry.get("first_inference_ms"), "peak_rss_kb": cell.entry.get("peak_rss_kb"),
            "size_kb": cell.size_bytes / 1024 if cell.size_bytes else None,
            "energy_mj_per_inference": energy.get("mj"), "energy_mj_above_idle": energy.get("mj_above_idle"),
            "avg_power_w": energy.get("power_w"), "accuracy_kind": accuracy and accuracy[0],
            "accuracy": accuracy and accuracy[1],
            "output_check": {None: "", True: "pass", False: "mismatch"}[cell.passed()],
            "fallback_ops": "" if ops is None else " ".join(ops) or "none",
            "runtime": info.get("runtime"), "runtime_version": info.get("runtime_version"),
            "run_id": cell.run.run_id,
        }
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
