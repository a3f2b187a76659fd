"""The conditions a run was taken in: board facts, runtimes, threads, governor, temperatures, throttling.

A latency figure means little without these. Temperatures, throttling, the power
source and a requested governor come from the result's `telemetry` section; a run
without them says "not recorded".
"""

from __future__ import annotations

from typing import Any

from .load import Run

NOT_RECORDED = "not recorded"


def telemetry_section(run: Run, name: str) -> Any:
    return (run.result.get("telemetry") or {}).get(name)


def governor(run: Run) -> str:
    """The governors the run ran under (telemetry's start snapshot, else the facts), and why a requested one
    (--governor) did not take where it did not."""
    sampled = (telemetry_section(run, "start") or {}).get("cpufreq") or {}
    policies = list(sampled.values()) or run.result.get("facts", {}).get("cpufreq") or []
    found = ", ".join(sorted({str(p.get("governor") or "?") for p in policies if isinstance(p, dict)}))
    asked = telemetry_section(run, "governor")
    if isinstance(asked, dict) and asked.get("requested"):
        refused = [f"{name}: {p['reason']}" for name, p in (asked.get("policies") or {}).items()
                   if isinstance(p, dict) and p.get("reason")]
        found += f"; asked for {asked['requested']}" + (f" (not set on {'; '.join(refused)})" if refused else "")
    return found.strip("; ") or "no cpufreq"


def runtimes(run: Run) -> str:
    """What each backend really ran, then the runtimes the board has installed."""
    used = []
    for entry in run.result["backends"]:
        info = entry.get("info") or {}
        if info.get("runtime"):
            used.append(f"{entry['label']}: {info['runtime']} {info.get('runtime_version', '')}".strip())
    installed = run.result.get("facts", {}).get("runtimes") or {}
    listed = ", ".join(f"{k} {v}" for k, v in sorted(installed.items()))
    return "; ".join(used + ([f"installed: {listed}"] if listed else []))


def power_source(run: Run) -> str:
    telemetry = run.result.get("telemetry") or {}
    source = str(telemetry.get("source") or "none")
    return f"{source} ({telemetry['power_error']})" if telemetry.get("power_error") else source


def temperatures(run: Run) -> str:
    """`zone: start → end °C (max M)` per thermal zone."""
    thermal = telemetry_section(run, "thermal") or {}
    start, end, peak = (thermal.get(k) or {} for k in ("start_c", "end_c", "max_c"))
    zones = [f"{zone}: {_c(start.get(zone))} → {_c(end.get(zone))} °C" +
             (f" (max {_c(peak[zone])})" if zone in peak else "") for zone in sorted({*start, *end, *peak})]
    return "; ".join(zones) or NOT_RECORDED


def throttling(run: Run) -> str:
    flags = telemetry_section(run, "throttling") or {}
    known = {k: v for k, v in flags.items() if isinstance(v, bool)}
    return ", ".join(f"{k.replace('_', ' ')}: {'YES' if v else 'no'}" for k, v in known.items()) or NOT_RECORDED


def conditions_rows(runs: list[Run]) -> list[dict[str, str]]:
    """One row per run, labelled for a person; the same rows feed HTML, Markdown and JSON."""
    rows = []
    for run in runs:
        result, facts = run.result, run.result.get("facts", {})
        board, settings = result["board"], result["settings"]
        cpu = facts.get("cpu") or {}
        emulated = " (EMULATED)" if board.get("emulated") else ""
        rows.append({
            "run": run.run_id,
            "board": f"{board.get('name', '?')}{emulated}: {board.get('description') or ''}".strip(": "),
            "system": f"{facts.get('arch', '?')}, {facts.get('distro', '?')}, kernel {facts.get('kernel', '?')}",
            "cpu": f"{cpu.get('model', '?')} x{cpu.get('count', '?')}",
            "python / numpy": f"{(facts.get('python') or {}).get('version', '?')} / {facts.get('numpy', '?')}",
            "runtimes": runtimes(run) or "?",
            "threads": str(settings.get("threads", "?")),
            "pinned cores": ",".join(str(c) for c in settings.get("cores") or []) or "not pinned",
            "governor": governor(run),
            "power source": power_source(run),
            "temperatures": temperatures(run),
            "throttling": throttling(run),
            "started (UTC)": str(result.get("started_utc", "?")),
        })
    return rows


def _c(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "?"

