"""Read run directories for reports and comparisons.

Reports are often made long after the runs, by a newer or older edgeq, from
folders that were copied around. Anything that is not a result this edgeq
understands is refused with one line naming the file, rather than rendered
half-wrong.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from edgeq.agent.records import Result
from edgeq.agent.wire import RESULT, RunFiles, SchemaError
from edgeq.errors import ConfigError

RESULT_FILE = RunFiles.RESULT


@dataclass(frozen=True)
class Run:
    """One run directory: where it is, and its result.json as written by `edgeq profile`."""

    path: Path
    result: dict[str, Any]

    @cached_property
    def record(self) -> Result:
        """The result as a typed record (records.Result), checked by load_run."""
        return Result.from_dict(self.result)

    @property
    def run_id(self) -> str:
        return str(self.record.run_id or self.path.name)


def load_runs(paths: Iterable[Path]) -> list[Run]:
    """Every run under `paths`: each is a run directory, its result.json, or a folder of run directories."""
    runs: dict[Path, Run] = {}
    for path in paths:
        for file in _result_files(Path(path)):
            runs.setdefault(file.resolve(), load_run(file))
    return sorted(runs.values(), key=lambda r: (r.record.board_section.name, r.record.model_section.name, r.run_id))


def load_run(file: Path) -> Run:
    """One result.json, checked enough that every report section can rely on its shape."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read ({exc})") from None
    if not text.strip():
        raise ConfigError(f"{file}: empty result file (damaged run directory)")
    try:
        result = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{file}: damaged result, not valid JSON ({exc})") from None
    if not isinstance(result, dict):
        raise ConfigError(f"{file}: damaged result, expected a JSON object")
    _check_schema(file, result.get("schema"))
    _check_shape(file, result)
    return Run(file.parent, result)


def _result_files(path: Path) -> list[Path]:
    """The result.json of a run directory, or of every run directory below a folder (a recipe's run folder)."""
    if not path.exists():
        raise ConfigError(f"{path}: no such run directory")
    if path.is_file() and path.suffix != ".json":  # a model or a report given where a run goes
        hint = f"; profile it (`edgeq profile --model {path}`) and give its run" if path.suffix == ".tflite" else ""
        raise ConfigError(f"{path}: not a run directory (a folder holding {RESULT_FILE}) or a folder of runs{hint}")
    if path.is_file():
        return [path]
    files = []
    for folder, subfolders, names in os.walk(path):
        here = Path(folder)
        if RESULT_FILE in names:
            files.append(here / RESULT_FILE)
            subfolders.clear()  # outputs/ and logs/ of a run hold no runs
        elif RunFiles.JOB in names and here.name.endswith(".partial"):
            raise ConfigError(f"{here}: an unfinished run; finish it with `edgeq profile --resume {here}`")
        elif RunFiles.JOB in names:
            raise ConfigError(f"{here / RESULT_FILE}: missing; {here} is a damaged run directory")
        # a profile still staging, or one waiting for `profile --resume`
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and not d.endswith(".partial"))
    if not files:
        raise ConfigError(f"{path}: no run directory here (no {RESULT_FILE} in it or in its subfolders)")
    return files


def _check_schema(file: Path, schema: Any) -> None:
    try:
        RESULT.check(schema)
    except SchemaError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def _check_shape(file: Path, result: dict[str, Any]) -> None:
    """The keys the report reads without a fallback; a missing one means a truncated or edited file."""
    for key, kind in (("board", dict), ("model", dict), ("settings", dict), ("backends", list)):
        if not isinstance(result.get(key), kind):
            raise ConfigError(f"{file}: damaged result, '{key}' is missing or not a {kind.__name__}")
    if not isinstance(result["model"].get("name"), str):
        raise ConfigError(f"{file}: damaged result, 'model.name' is missing")
    _check_optional(file, result)
    for index, entry in enumerate(result["backends"]):
        where = f"backends[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise ConfigError(f"{file}: damaged result, '{where}.label' is missing")
        if not isinstance(entry.get("status"), str):
            raise ConfigError(f"{file}: damaged result, '{where}.status' is missing")
        if entry.get("status") == "ok" and not isinstance(entry.get("stats"), dict):
            raise ConfigError(f"{file}: damaged result, '{where}' is ok but has no 'stats'")
        _check_samples(file, where, entry)
        _check_stats(file, where, entry)


_OPTIONAL: tuple[tuple[str, tuple[str, ...], tuple[type, ...]], ...] = (
    ("run_id", (), (str,)), ("warnings", (), (list,)), ("facts", (), (dict,)), ("telemetry", (), (dict,)),
    ("correctness", (), (dict,)), ("name", ("board",), (str,)), ("emulated", ("board",), (bool,)),
    ("path", ("model",), (str,)), ("inputs", ("model",), (list,)), ("size_bytes", ("model",), (int,)),
    ("threads", ("settings",), (int, str)),
)
"""Keys a report reads when they are there, and what they must then be (None counts as absent)."""
_ENTRY: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("backend", (str,)), ("reason", (str,)), ("options", (dict,)), ("info", (dict,)), ("telemetry", (dict,)),
    ("coverage", (dict,)), ("accuracy", (dict,)),
)


def _kind(types: tuple[type, ...]) -> str:
    return " or ".join({"str": "text", "dict": "an object", "list": "a list", "int": "a whole number",
                        "bool": "true or false"}.get(t.__name__, t.__name__) for t in types)


def _check_optional(file: Path, result: dict[str, Any]) -> None:
    """What the report reads beyond the required keys, checked once here instead of at each use."""
    for key, parents, types in _OPTIONAL:
        holder: Any = result
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        value = holder.get(key) if isinstance(holder, dict) else None
        if value is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            raise ConfigError(f"{file}: damaged result, '{'.'.join(parents + (key,))}' is not {_kind(types)}")
    if not all(isinstance(w, str) for w in result.get("warnings") or []):
        raise ConfigError(f"{file}: damaged result, 'warnings' holds something that is not text")
    for index, entry in enumerate(result["backends"]):
        for key, types in _ENTRY:
            value = entry.get(key) if isinstance(entry, dict) else None
            if value is not None and not isinstance(value, types):
                raise ConfigError(f"{file}: damaged result, 'backends[{index}].{key}' is not {_kind(types)}")


def _check_stats(file: Path, where: str, entry: dict[str, Any]) -> None:
    """Summary statistics are numbers (None where a tool gives none); `source` names the tool."""
    stats = entry.get("stats")
    if stats is None:
        return
    if not isinstance(stats, dict):
        raise ConfigError(f"{file}: damaged result, '{where}.stats' is not an object")
    for key, value in stats.items():
        if key == "source":
            ok = isinstance(value, str)
        else:
            ok = value is None or (type(value) in (int, float) and math.isfinite(value) and value >= 0)
        if not ok:
            raise ConfigError(f"{file}: damaged result, '{where}.stats.{key}' is {_short(value)}")


def _check_samples(file: Path, where: str, entry: dict[str, Any]) -> None:
    """Raw samples are what comparisons test on: numbers of nanoseconds, >= 0, and there when the run was
    measured (only an external tool's summary, stats.source benchmark_model, comes without them)."""
    samples = entry.get("samples_ns", [])
    if not isinstance(samples, list):
        raise ConfigError(f"{file}: damaged result, '{where}.samples_ns' is not a list")
    bad = next((i for i, v in enumerate(samples) if type(v) not in (int, float) or not 0 <= v < math.inf), None)
    if bad is not None:
        raise ConfigError(f"{file}: damaged result, '{where}.samples_ns[{bad}]' is {_short(samples[bad])}; "
                          "expected nanoseconds >= 0")
    summary_only = isinstance(entry.get("stats"), dict) and entry["stats"].get("source") == "benchmark_model"
    if entry.get("status") == "ok" and "samples_ns" in entry and not samples and not summary_only:
        raise ConfigError(f"{file}: damaged result, '{where}' is ok but its samples_ns is empty")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
