"""Reading a job file (schema edgeq.job/1) on the board.

The host writes jobs, but the agent is an interface of its own: a job that is
wrong is refused here with a message naming the key, before any backend runs.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

from . import JOB_SCHEMA
from . import backends


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


def load_job(path: str) -> Dict[str, Any]:
    """Read and check a job; paths in it are taken relative to the job file's folder."""
    try:
        with open(path, encoding="utf-8") as handle:
            job = json.load(handle)
    except (OSError, ValueError) as exc:
        raise JobError(f"cannot read job {path}: {exc}") from None
    if not isinstance(job, dict) or job.get("schema") != JOB_SCHEMA:
        found = job.get("schema") if isinstance(job, dict) else type(job).__name__
        raise JobError(f"schema: expected {JOB_SCHEMA!r}, found {found!r} (is the agent older than edgeq?)")
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
            "runs": _number(warmup, "runs", "warmup", 5, True),
            "seconds": _number(warmup, "seconds", "warmup", 0.0, False),
        },
        "measure": {
            "runs": max(1, _number(measure, "runs", "measure", 50, True)),
            "min_seconds": _number(measure, "min_seconds", "measure", 0.0, False),
        },
        "timeout_s": _number(job, "timeout_s", "job", 600, False),
        "library_path": library_path,
        "backends": _backends(job),
    }
