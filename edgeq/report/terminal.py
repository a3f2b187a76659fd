"""The table `edgeq profile` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.agent.records import BackendResult, Result
from edgeq.agent.sections import Check

from .checks import check_short
from .stats import NOISE_RULE, median_interval, noise_text
from .units import duration, percent

COLUMNS = ("backend", "status", "check", "runtime", "thr", "load", "1st run", "p50", "p90", "p99",
           "mean ± std", "cv", "runs", "RSS MB")


def _runtime(entry: BackendResult) -> str:
    info = entry.info
    text = f"{info.runtime or '?'} {info.runtime_version or ''}".strip()
    if info.armnn_backends:
        text += " [" + ",".join(info.armnn_backends) + "]"
    if info.accelerator:
        text += f" ({info.accelerator})"
    return text


def _row(entry: BackendResult, threads: Any, verdicts: dict[str, Check]) -> list[str]:
    rss = f"{entry.peak_rss_kb / 1024:.0f}" if entry.peak_rss_kb else "-"
    if not entry.ok:
        return [entry.label, entry.status.upper(), "-", "-", str(threads)] + ["-"] * 8 + [rss]
    s = entry.timing
    return [
        entry.label, "ok", check_short(verdicts.get(entry.label)), _runtime(entry), str(threads),
        _time(entry.load_ms), _time(entry.first_inference_ms), _time(s.p50_ms), _time(s.p90_ms),
        _time(s.p99_ms), f"{_time(s.mean_ms)} ± {_time(s.std_ms)}",
        ("-" if s.cv is None else percent(s.cv)) + (" NOISY" if _noise(entry) else ""),
        "-" if s.count is None else str(s.count), rss,
    ]


def _noise(entry: BackendResult) -> str | None:
    """Why this backend's latency is noisy (report/stats.py's rule), or None."""
    if not entry.ok:
        return None
    samples = np.asarray(entry.samples_ns, dtype=np.float64)
    return noise_text(entry.timing.cv, median_interval([samples]) if samples.size else None)


def _time(ms: float | None) -> str:
    """A duration in the unit that fits it (µs below 1 ms), '-' where it was not measured."""
    return "-" if ms is None else duration(ms)


def _num(value: float | None, digits: int = 3) -> str:
    """A figure, or '-' where the backend could not measure it (an external tool's summary)."""
    return "-" if value is None else f"{value:.{digits}f}"


def fallbacks(result: Result) -> list[str]:
    """`label: OP (reason), ...` for every backend that left part of the model to the CPU."""
    lines = []
    for entry in result.backends:
        cover = entry.coverage
        if entry.ok and cover is not None and cover.fully_delegated is False:
            ops = ", ".join(f"{o.op} ({o.reason})" for o in cover.fallback_ops) or "ops not named"
            lines.append(f"{entry.label}: {ops}")
    return lines


def profile_table(result: Result | dict[str, Any]) -> str:
    """The run's table and what a reader must know beside it; `result` as loaded (a dict is typed here)."""
    if not isinstance(result, Result):
        result = Result.from_dict(result)
    verdicts = result.checks.checks
    rows = [list(COLUMNS)] + [_row(e, result.threads, verdicts) for e in result.backends]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    board, model = result.board_section, result.model_section
    head = f"{model.name} ({(model.size_bytes or 0) / 1024:.1f} KB, " \
           f"{model.quantization or '?'}) on {board.name}"
    if board.emulated:
        head += "  [EMULATED: timings are not representative of real hardware]"
    failures = [f"  {e.label}: {e.reason or 'no reason given'}" for e in result.backends if not e.ok]
    wrong = [f"  {label}: {v.why}" for label, v in verdicts.items() if not v.passed]
    noisy = [f"  {e.label}: {why}" for e, why in ((e, _noise(e)) for e in result.backends) if why]
    checks = result.checks
    tail = [f"no reference: {checks.reference_why}" if checks.reference_kind == "none" else
            f"outputs checked against {checks.reference_kind or '?'} reference {checks.reference_model or ''}"]
    fell_back = ["  " + line for line in fallbacks(result)]
    starts = [f"  {e.label}: cold {_time(e.start.cold[0])} load + {_time(e.start.cold[1])} first run; "
              f"warm {_time(e.start.warm[0])} + {_time(e.start.warm[1])}"
              for e in result.backends if e.start]
    accuracy = [f"  {e.label}: top-1 {e.accuracy.top1:.4f} on {e.accuracy.samples} samples"
                for e in result.backends if e.accuracy and e.accuracy.top1 is not None]
    slow = [f"  {e.label}: " + ", ".join(f"{layer.id or layer.name} {duration((layer.median_us or 0) / 1000)}"
                                         for layer in e.layers[:3])
            for e in result.backends if e.layers]
    return "\n".join([head, ""] + lines + ([""] + tail if checks.has_reference else [])
                     + (["", "GPU start, cold (empty kernel cache) and warm:"] + starts if starts else [])
                     + (["", "Accuracy on the board:"] + accuracy if accuracy else [])
                     + (["", "Slowest layers:"] + slow if slow else [])
                     + (["", "Fell back to the CPU:"] + fell_back if fell_back else [])
                     + (["", "Outputs that do not match:"] + wrong if wrong else [])
                     + (["", f"Noisy ({NOISE_RULE}):"] + noisy if noisy else [])
                     + (["", "Failed backends:"] + failures if failures else []))
