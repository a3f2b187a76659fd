"""The JSON report, schema wire.REPORT: what the HTML shows, as data for other tools.

Top-level keys: `schema`, `generated_utc`, `runs[]` (run_id, path, board, model,
variant), `warnings[]` (kind, text), `cells[]` (one per board, model, variant,
backend: status, reason, `latency_ms` {p10, p50, p90, mean, std, count} or null,
load/first-run ms, peak RSS, size, `energy` or null, `accuracy` {kind, value} or
null, `output_check` true/false/null, `correctness` (the result's verdict for the
backend) or null, `fallback_ops` or null, `throttled`, runtime and version),
`noise` (why the latency is noisy, or null), `verdicts[]` (board, model, `picks[]`
{question, backend, variant, median_ms, ci_ms, runner_up, ratio, text}, notes),
`quantization[]` (model, variant, size_bytes, compression, accuracy, agreement,
sqnr_db, source) and `conditions[]` (one labelled record per run). A reader must
check `schema`; a figure that was not measured is null, never 0.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from edgeq.agent.wire import REPORT

from . import formats
from .cells import Cell
from .conditions import conditions_rows
from .data import ReportData
from .variants import identify, sidecar_for

SCHEMA = REPORT.tag


def cell_record(cell: Cell, data: ReportData | None = None) -> dict[str, Any]:
    lat, info, accuracy, check = cell.latency(), cell.entry.info, cell.accuracy(), cell.correctness()
    return {
        "board": cell.board, "model": cell.model, "variant": cell.variant, "backend": cell.backend,
        "threads": cell.threads, "status": cell.status, "reason": cell.reason or None,
        "latency_ms": dataclasses.asdict(lat) if lat else None,
        "load_ms": cell.entry.load_ms, "first_inference_ms": cell.entry.first_inference_ms,
        "peak_rss_kb": cell.entry.peak_rss_kb, "size_bytes": cell.size_bytes, "energy": cell.energy(),
        "accuracy": {"kind": accuracy[0], "value": accuracy[1]} if accuracy else None,
        "output_check": cell.passed(), "correctness": check.written if check else None, "fallback_ops": cell.fallback_ops(),
        "throttled": cell.throttled(), "noise": data.noise(cell) if data else None,
        "runtime": info.runtime, "runtime_version": info.runtime_version, "run_id": cell.run.run_id,
    }


@formats.register("json", "json")
def render(data: ReportData) -> str:
    runs = []
    for run in data.runs:
        model, variant = identify(run, sidecar_for(run))
        runs.append({"run_id": run.run_id, "path": str(run.path), "board": run.record.board.get("name"),
                     "model": model, "variant": variant})
    report = {
        "schema": SCHEMA,
        "generated_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "warnings": [dataclasses.asdict(w) for w in data.warnings],
        "cells": [cell_record(c, data) for c in data.cells],
        "verdicts": [{"board": v.board, "model": v.model, "notes": v.notes, "picks": [
            {"question": p.question, "backend": p.setup.backend, "variant": p.setup.variant,
             "median_ms": p.setup.interval.median, "ci_ms": [p.setup.interval.low, p.setup.interval.high],
             "runner_up": p.runner_up.name if p.runner_up else None, "ratio": list(p.ratio) if p.ratio else None,
             "text": p.text} for p in v.picks]} for v in data.verdicts],
        "quantization": [dataclasses.asdict(r) for r in data.quant],
        "conditions": conditions_rows(data.runs),
    }
    return json.dumps(report, indent=1) + "\n"
