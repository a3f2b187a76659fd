"""Reading a job file (schema wire.JOB) on the board.

The host writes jobs, but the agent is an interface of its own: a job that is
wrong is refused here with a message naming the key, before any backend runs.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence

from . import backends
from .records import Measure, Warmup
from .telemetry import power as power_sources
from .wire import COOLDOWN_TIMEOUT_S, DEFAULT_TIMEOUT_S, JOB, POWER_SAMPLE_HZ, SchemaError

TELEMETRY_KEYS = ("power", "rate_hz", "idle_seconds", "root", "thermal_zones")
POWER_KEYS = ("source", "hwmon_name", "command")
MAX_RATE_HZ = 1000.0
_GOVERNOR = re.compile(r"^[a-z][a-z0-9_]*$")


class JobError(Exception):
    """The job file is unreadable or wrong; the message names the key."""


def _number(section: Dict[str, Any], key: str, where: str, default: float, integer: bool) -> float:
    value = section.get(key, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
        expected = "a non-negative integer" if integer else "a non-negative number"
        raise JobError(f"{where}.{key}: expected {expected}, found {value!r}")
    return value


def _path(job: Dict[str, Any], key: str, base: str, required: bool = True) -> Optional[str]:
    value = job.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise JobError(f"{key}: expected a path, found {value!r}")
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _backends(job: Dict[str, Any]) -> List[Dict[str, Any]]:
    entries = job.get("backends")
    if not isinstance(entries, list) or not entries:
        raise JobError(f"backends: expected a non-empty list, found {entries!r}")
    seen: Dict[str, int] = {}
    parsed = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise JobError(f"backends[{i}]: expected {{name: ..., options: {{...}}}}, found {entry!r}")
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            raise JobError(f"backends[{i}].options: expected a mapping, found {options!r}")
        problem = backends.check(entry["name"], options)
        if problem:
            raise JobError(f"backends[{i}]: {problem}")
        label = str(entry.get("label") or entry["name"])
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        parsed.append({"name": entry["name"], "label": label, "options": options})
    return parsed


def _section(value: Any, where: str, keys: Sequence[str]) -> Dict[str, Any]:
    """A mapping holding only `keys`; absent or null reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise JobError(f"{where}: expected a mapping, found {value!r}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise JobError(f"{where}: unknown key {unknown[0]!r}. Choose from: {', '.join(keys)}")
    return value


def _power(section: Dict[str, Any]) -> Dict[str, Any]:
    power = _section(section.get("power"), "telemetry.power", POWER_KEYS)
    source = power.get("source", "none")
    problem = power_sources.check(source)
    if problem:
        raise JobError(f"telemetry.power.source: {problem}")
    for key in ("hwmon_name", "command"):
        value = power.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise JobError(f"telemetry.power.{key}: expected a non-empty string, found {value!r}")
    if source == "hwmon" and not power.get("hwmon_name"):
        raise JobError("telemetry.power.hwmon_name: source 'hwmon' needs the device's hwmon name, e.g. ina226")
    if source == "command" and not power.get("command"):
        raise JobError("telemetry.power.command: source 'command' needs a command that prints watts")
    return {"source": source, "hwmon_name": power.get("hwmon_name"), "command": power.get("command")}


def _telemetry(job: Dict[str, Any], base: str) -> Dict[str, Any]:
    """What to sample and where; a power source turns sampling and the idle window on by default."""
    section = _section(job.get("telemetry"), "telemetry", TELEMETRY_KEYS)
    power = _power(section)
    powered = power["source"] != "none"
    rate = _number(section, "rate_hz", "telemetry", POWER_SAMPLE_HZ if powered else 0.0, False)
    if rate > MAX_RATE_HZ:
        raise JobError(f"telemetry.rate_hz: expected at most {MAX_RATE_HZ:g}, found {rate!r}")
    root = section.get("root", "/")
    if not isinstance(root, str) or not root:
        raise JobError(f"telemetry.root: expected a folder, found {root!r}")
    zones = section.get("thermal_zones") or []
    if not isinstance(zones, list) or not all(isinstance(z, str) and z and "/" not in z for z in zones):
        raise JobError(f"telemetry.thermal_zones: expected names such as thermal_zone0, found {zones!r}")
    return {
        "power": power,
        "rate_hz": float(rate),
        "idle_seconds": float(_number(section, "idle_seconds", "telemetry", 1.0 if powered else 0.0, False)),
        "root": os.path.normpath(os.path.join(base, os.path.expanduser(root))),
        "thermal_zones": zones,
    }


def _conditions(job: Dict[str, Any]) -> Dict[str, Any]:
    """Cooldown before each backend and the governor to hold during the run."""
    cooldown = job.get("cooldown_to_c")
    if cooldown is not None and (isinstance(cooldown, bool) or not isinstance(cooldown, (int, float))):
        raise JobError(f"cooldown_to_c: expected degrees Celsius, found {cooldown!r}")
    governor = job.get("governor")
    if governor is not None and not (isinstance(governor, str) and _GOVERNOR.match(governor)):
        raise JobError(f"governor: expected a cpufreq governor such as performance, found {governor!r}")
    return {
        "cooldown_to_c": cooldown,
        "cooldown_timeout_s": _number(job, "cooldown_timeout_s", "job", COOLDOWN_TIMEOUT_S, False),
        "governor": governor,
    }


def _keep_runs(value: Any) -> Optional[Dict[str, float]]:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise JobError(f"keep_runs: expected {{last: N, days: D}}, found {value!r}")
    return {"last": _number(value, "last", "keep_runs", 20, True), "days": _number(value, "days", "keep_runs", 14.0, False)}


def load_job(path: str) -> Dict[str, Any]:
    """Read and check a job; paths in it are taken relative to the job file's folder."""
    try:
        with open(path, encoding="utf-8") as handle:
            job = json.load(handle)
    except (OSError, ValueError) as exc:
        raise JobError(f"cannot read job {path}: {exc}") from None
    found = job.get("schema") if isinstance(job, dict) else type(job).__name__
    try:
        JOB.check(found)
    except SchemaError:
        raise JobError(f"schema: expected {JOB.tag!r}, found {found!r} (is the agent older than edgeq?)") from None
    base = os.path.dirname(os.path.abspath(path))
    warmup = job.get("warmup") or {}
    measure = job.get("measure") or {}
    threads = job.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise JobError(f"threads: expected an integer >= 1, found {threads!r}")
    cores = job.get("cores")
    if cores is not None and (not isinstance(cores, list) or not all(isinstance(c, int) and c >= 0 for c in cores)):
        raise JobError(f"cores: expected a list of core ids, found {cores!r}")
    library_path = job.get("library_path") or []
    if not isinstance(library_path, list) or not all(isinstance(p, str) for p in library_path):
        raise JobError(f"library_path: expected a list of folders, found {library_path!r}")
    return {
        "model": _path(job, "model", base),
        "inputs": _path(job, "inputs", base),
        "out_dir": _path(job, "out_dir", base),
        "threads": threads,
        "cores": cores,
        "warmup": {
            "runs": _number(warmup, "runs", "warmup", Warmup.runs, True),
            "seconds": _number(warmup, "seconds", "warmup", Warmup.seconds, False),
        },
        "measure": {
            "runs": max(1, _number(measure, "runs", "measure", Measure.runs, True)),
            "min_seconds": _number(measure, "min_seconds", "measure", Measure.min_seconds, False),
        },
        "timeout_s": _number(job, "timeout_s", "job", DEFAULT_TIMEOUT_S, False),
        "library_path": library_path,
        "native_dir": _path(job, "native_dir", base, required=False),
        "keep_runs": _keep_runs(job.get("keep_runs")),
        "eval": _path(job, "eval", base, required=False),
        "backends": _backends(job),
        "telemetry": _telemetry(job, base),
        **_conditions(job),
    }
