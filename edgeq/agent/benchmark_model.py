"""Reading what TFLite's C++ `benchmark_model` prints, into edgeq's result figures.

The tool reports its own timings (microseconds) on lines such as
`INFO: Inference timings in us: Init: ..., First inference: ..., Warmup (avg): ...,
Inference (avg): ...` and `count=50 first=... curr=... min=... max=... avg=... std=...`
(the warm-up loop's line first, then the measured loop's), and with
`--enable_op_profiling=true` the StatsCalculator tables (`Run Order`, `Top by
Computation Time`, `Summary by node type`), tab-separated, or comma-separated when
the tool was asked for CSV. Older builds print no `INFO: ` prefix; both are read.
Standard library only: this runs on the board.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

_SUMMARY = re.compile(r"Inference timings in us: Init: (?P<init>[\d.e+-]+), First inference: (?P<first>[\d.e+-]+), "
                      r"Warmup \(avg\): (?P<warmup>[\d.e+-]+), Inference \(avg\): (?P<avg>[\d.e+-]+)")
_INITIALIZED = re.compile(r"Initialized session in (?P<ms>[\d.]+) ?ms")
_COUNT = re.compile(r"^(?:INFO: )?count=(?P<count>\d+)(?P<rest>(?: \w+=[\d.e+-]+)*)\s*$")
_REGULAR_RUNS = "Operator-wise Profiling Info for Regular Benchmark Runs"
_BY_TYPE = "============================== Summary by node type"


class BenchmarkOutputError(ValueError):
    """The text is not benchmark_model output this parser knows; the message says what is missing."""


def _loop_stats(line_match: "re.Match[str]") -> Dict[str, float]:
    """`count=N first=.. min=..` (us) -> figures in ms, keyed as the tool names them."""
    values = dict(pair.split("=", 1) for pair in line_match.group("rest").split())
    stats: Dict[str, float] = {"count": int(line_match.group("count"))}
    for key, value in values.items():
        stats[key] = float(value) / 1000.0
    return stats


def op_rows(lines: List[str]) -> List[Dict[str, Any]]:
    """Rows of the `Summary by node type` table of the measured runs (also in a --profiling_output_csv_file)."""
    start = next((i for i, line in enumerate(lines) if _REGULAR_RUNS in line), 0)
    header = next((i for i in range(start, len(lines)) if _BY_TYPE in lines[i]), None)
    if header is None:
        return []
    rows = []
    for line in lines[header + 2:]:
        cells = [c.strip() for c in re.split(r"\t|, ", line.replace("INFO: ", "", 1)) if c.strip()]
        if len(cells) != 7:
            break
        node_type, count, avg_ms, percent, _cdf, _mem_kb, called = cells
        rows.append({"node_type": node_type, "count": int(count), "avg_ms": float(avg_ms),
                     "percent": float(percent.rstrip("%")), "times_called": int(called)})
    return rows


def parse(text: str) -> Dict[str, Any]:
    """Init, first-run, warm-up and measured figures (ms) and per-node-type rows.

    The summary line is required: without it the tool did not finish, and figures
    from a partial run must not pass as a result.
    """
    summary = _SUMMARY.search(text)
    if summary is None:
        raise BenchmarkOutputError("benchmark_model printed no 'Inference timings in us:' line (did it finish?)")
    lines = text.splitlines()
    loops = [m for m in (_COUNT.match(line.strip()) for line in lines) if m]
    if not loops:
        raise BenchmarkOutputError("benchmark_model printed no 'count=... avg=... std=...' line")
    measured = _loop_stats(loops[-1])
    warmup: Optional[Dict[str, float]] = _loop_stats(loops[0]) if len(loops) > 1 else None
    initialized = _INITIALIZED.search(text)
    return {
        "init_ms": float(summary.group("init")) / 1000.0,
        "session_init_ms": float(initialized.group("ms")) if initialized else None,
        "first_inference_ms": float(summary.group("first")) / 1000.0,
        "warmup_avg_ms": float(summary.group("warmup")) / 1000.0,
        "warmup_runs": int(warmup["count"]) if warmup else 0,
        "inference_avg_ms": float(summary.group("avg")) / 1000.0,
        "runs": measured,
        "ops": op_rows(lines),
    }


def to_result(parsed: Dict[str, Any]) -> Dict[str, Any]:
    """The parsed figures in the shape of a result's backend entry (wire.RESULT).

    The tool gives no raw samples and no p90/p99, so `samples_ns` is empty and those
    percentiles are None; p50 is the tool's median where it prints one, else its mean.
    """
    runs = parsed["runs"]
    mean = runs.get("avg", parsed["inference_avg_ms"])
    std = runs.get("std", 0.0)
    stats = {
        "count": int(runs["count"]), "mean_ms": mean, "std_ms": std, "min_ms": runs.get("min"),
        "p50_ms": runs.get("median", mean), "p90_ms": None, "p99_ms": None, "max_ms": runs.get("max"),
        "cv": std / mean if mean else 0.0, "source": "benchmark_model",
    }
    return {
        "load_ms": parsed["init_ms"],
        "first_inference_ms": parsed["first_inference_ms"],
        "warmup": {"runs": parsed["warmup_runs"], "seconds": parsed["warmup_runs"] * parsed["warmup_avg_ms"] / 1000.0},
        "stats": stats,
        "samples_ns": [],
        "ops": parsed["ops"],
    }
