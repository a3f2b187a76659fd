"""The conditions a run was taken in: board facts, runtimes, threads, governor, temperatures, throttling.

A latency figure means little without these. Temperatures, throttling, the power
source and a requested governor come from the result's `telemetry` section; a run
without them says "not recorded".
"""

from __future__ import annotations

from typing import Any

from .load import Run

NOT_RECORDED = "not recorded"


def governor(run: Run) -> str:
    """The governors the run ran under (telemetry's start snapshot, else the facts), and why a requested one
    (--governor) did not take where it did not."""
    telemetry = run.record.telemetry_section
    found = ", ".join(sorted(set(telemetry.start_governors or run.record.facts_section.governors)))
    if telemetry.governor_requested:
        refused = [f"{name}: {why}" for name, why in telemetry.governor_refused.items()]
        found += f"; asked for {telemetry.governor_requested}" + (f" (not set on {'; '.join(refused)})"
                                                                   if refused else "")
    return found.strip("; ") or "no cpufreq"


def runtimes(run: Run) -> str:
    """What each backend really ran, then the runtimes the board has installed."""
    used = []
    for entry in run.record.backends:
        info = entry.info
        if info.runtime:
            used.append(f"{entry.label}: {info.runtime} {info.runtime_version or ''}".strip())
    installed = run.record.facts_section.runtimes
    listed = ", ".join(f"{k} {v}" for k, v in sorted(installed.items()))
    return "; ".join(used + ([f"installed: {listed}"] if listed else []))


def power_source(run: Run) -> str:
    telemetry = run.record.telemetry_section
    return f"{telemetry.source} ({telemetry.power_error})" if telemetry.power_error else telemetry.source


def temperatures(run: Run) -> str:
    """`zone: start → end °C (max M)` per thermal zone."""
    telemetry = run.record.telemetry_section
    start, end, peak = telemetry.thermal_start_c, telemetry.thermal_end_c, telemetry.thermal_max_c
    zones = [f"{zone}: {_c(start.get(zone))} → {_c(end.get(zone))} °C" +
             (f" (max {_c(peak[zone])})" if zone in peak else "") for zone in sorted({*start, *end, *peak})]
    return "; ".join(zones) or NOT_RECORDED


def throttling(run: Run) -> str:
    flags = run.record.telemetry_section.throttling
    return ", ".join(f"{k.replace('_', ' ')}: {'YES' if v else 'no'}" for k, v in flags.items()) or NOT_RECORDED


def conditions_rows(runs: list[Run]) -> list[dict[str, str]]:
    """One row per run, labelled for a person; the same rows feed HTML, Markdown and JSON."""
    rows = []
    for run in runs:
        result = run.record
        facts, board = result.facts_section, result.board_section
        emulated = " (EMULATED)" if board.emulated else ""
        rows.append({
            "run": run.run_id,
            "board": f"{board.name}{emulated}: {board.description or ''}".strip(": "),
            "system": f"{facts.arch}, {facts.distro}, kernel {facts.kernel}",
            "cpu": f"{facts.cpu_model} x{facts.cpu_count}",
            "python / numpy": f"{facts.python_version} / {facts.numpy}",
            "runtimes": runtimes(run) or "?",
            "threads": str(result.threads),
            "pinned cores": ",".join(str(c) for c in result.cores) or "not pinned",
            "governor": governor(run),
            "power source": power_source(run),
            "temperatures": temperatures(run),
            "throttling": throttling(run),
            "started (UTC)": str(result.started_utc or "?"),
        })
    return rows


def _c(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "?"
