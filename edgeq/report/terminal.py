"""The table `edgeq profile` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_short
from .stats import NOISE_RULE, median_interval, noise_text
from .units import duration, percent

COLUMNS = ("backend", "status", "check", "runtime", "thr", "load", "1st run", "p50", "p90", "p99",
           "mean ± std", "cv", "runs", "RSS MB")


def _runtime(entry: dict[str, Any]) -> str:
    info = entry.get("info") or {}
    text = f"{info.get('runtime', '?')} {info.get('runtime_version', '')}".strip()
    if info.get("armnn_backends"):
        text += " [" + ",".join(info["armnn_backends"]) + "]"
    if info.get("accelerator"):
        text += f" ({info['accelerator']})"
    return text


def _check(entry: dict[str, Any], verdicts: dict[str, Any]) -> str:
    return check_short(verdicts.get(entry["label"]))


def _row(entry: dict[str, Any], threads: int, verdicts: dict[str, Any]) -> list[str]:
    rss = f"{entry['peak_rss_kb'] / 1024:.0f}" if entry.get("peak_rss_kb") else "-"
    if entry["status"] != "ok":
        return [entry["label"], entry["status"].upper(), "-", "-", str(threads)] + ["-"] * 8 + [rss]
    s = entry["stats"]
    return [
        entry["label"], "ok", _check(entry, verdicts), _runtime(entry), str(threads), _time(entry.get("load_ms")),
        _time(entry.get("first_inference_ms")), _time(s.get("p50_ms")), _time(s.get("p90_ms")),
        _time(s.get("p99_ms")), f"{_time(s.get('mean_ms'))} ± {_time(s.get('std_ms'))}",
        ("-" if s.get("cv") is None else percent(s["cv"])) + (" NOISY" if _noise(entry) else ""),
        str(s.get("count", "-")), rss,
    ]


def _noise(entry: dict[str, Any]) -> str | None:
    """Why this backend's latency is noisy (report/stats.py's rule), or None."""
    if entry["status"] != "ok":
        return None
    samples = np.asarray(entry.get("samples_ns") or [], dtype=np.float64)
    return noise_text((entry.get("stats") or {}).get("cv"), median_interval([samples]) if samples.size else None)


def _time(ms: float | None) -> str:
    """A duration in the unit that fits it (µs below 1 ms), '-' where it was not measured."""
    return "-" if ms is None else duration(ms)


def _num(value: float | None, digits: int = 3) -> str:
    """A figure, or '-' where the backend could not measure it (an external tool's summary)."""
    return "-" if value is None else f"{value:.{digits}f}"


def fallbacks(result: dict[str, Any]) -> list[str]:
    """`label: OP (reason), ...` for every backend that left part of the model to the CPU."""
    lines = []
    for entry in result["backends"]:
        cover = entry.get("coverage") or {}
        if entry["status"] == "ok" and not cover.get("fully_delegated", True):
            ops = ", ".join(f"{o['op']} ({o['reason']})" for o in cover.get("fallback_ops", [])) or "ops not named"
            lines.append(f"{entry['label']}: {ops}")
    return lines


def profile_table(result: dict[str, Any]) -> str:
    threads = result.get("settings", {}).get("threads", "?")
    verdicts = result.get("correctness", {}).get("backends", {})
    rows = [list(COLUMNS)] + [_row(e, threads, verdicts) for e in result["backends"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    board, model = result.get("board", {}), result.get("model", {})
    head = f"{model.get('name', '?')} ({model.get('size_bytes', 0) / 1024:.1f} KB, " \
           f"{model.get('quantization', '?')}) on {board.get('name', '?')}"
    if board.get("emulated"):
        head += "  [EMULATED: timings are not representative of real hardware]"
    failures = [f"  {e['label']}: {e.get('reason', 'no reason given')}" for e in result["backends"] if e["status"] != "ok"]
    wrong = [f"  {label}: {v['why']}" for label, v in verdicts.items() if not v["passed"]]
    noisy = [f"  {e['label']}: {why}" for e, why in ((e, _noise(e)) for e in result["backends"]) if why]
    reference = result.get("correctness", {}).get("reference", {})
    tail = [f"no reference: {reference.get('why')}" if reference.get("kind") == "none" else
            f"outputs checked against {reference.get('kind', '?')} reference {reference.get('model', '')}"]
    fell_back = ["  " + line for line in fallbacks(result)]
    starts = [f"  {e['label']}: cold {_time(e['start']['cold'].get('load_ms'))} load + "
              f"{_time(e['start']['cold'].get('first_inference_ms'))} first run; warm "
              f"{_time(e['start'].get('warm', {}).get('load_ms'))} + "
              f"{_time(e['start'].get('warm', {}).get('first_inference_ms'))}"
              for e in result["backends"] if e.get("start")]
    accuracy = [f"  {e['label']}: top-1 {e['accuracy']['top1']:.4f} on {e['accuracy']['samples']} samples"
                for e in result["backends"] if (e.get("accuracy") or {}).get("top1") is not None]
    slow = [f"  {e['label']}: " + ", ".join(f"{layer.get('id') or layer['name']} {duration(layer['median_us'] / 1000)}"
                                           for layer in
                                           e["layers"]["top"][:3])
            for e in result["backends"] if (e.get("layers") or {}).get("top")]
    return "\n".join([head, ""] + lines + ([""] + tail if reference else [])
                     + (["", "GPU start, cold (empty kernel cache) and warm:"] + starts if starts else [])
                     + (["", "Accuracy on the board:"] + accuracy if accuracy else [])
                     + (["", "Slowest layers:"] + slow if slow else [])
                     + (["", "Fell back to the CPU:"] + fell_back if fell_back else [])
                     + (["", "Outputs that do not match:"] + wrong if wrong else [])
                     + (["", f"Noisy ({NOISE_RULE}):"] + noisy if noisy else [])
                     + (["", "Failed backends:"] + failures if failures else []))
