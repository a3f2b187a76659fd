"""The Python API: what `import edgeq` gives notebooks and scripts (docs/api.md).

The same functions the CLI calls, with Python's habits: paths as `str` or `Path`,
keyword arguments named like the CLI's options (`min_seconds` for `--min-seconds`),
typed results with `.to_json()` and `.to_dataframe()` (when pandas is installed),
and edgeq's exceptions (edgeq.errors) whose messages name parameters, not CLI flags.
No live progress is drawn: that is the CLI's business.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

from edgeq.agent.records import BackendResult, Result
from edgeq.errors import EdgeqError
from edgeq.outpaths import refuse_overwriting_inputs

__all__ = ["PathLike", "RunResult", "analyze", "compare", "deploy", "inspect", "list_boards", "load_board",
           "load_run", "profile", "quantize", "report", "run_recipe"]

PathLike = Union[str, Path]
F = TypeVar("F", bound=Callable[..., Any])
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def _python_words(func: F) -> F:
    """Re-raise edgeq's errors with `--min-seconds` spelled `min_seconds`: the caller passed parameters."""
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EdgeqError as exc:
            text = _FLAG.sub(lambda m: m.group(1).replace("-", "_"), str(exc))
            if text == str(exc):
                raise
            error = type(exc)(text)
            error.exit_code = exc.exit_code
            raise error from None
    return call  # type: ignore[return-value]


@dataclass(frozen=True)
class RunResult:
    """One run directory and its result.json, typed (edgeq.agent.records.Result)."""

    run_dir: Path
    result: Result

    @property
    def ok(self) -> bool:
        """At least one backend completed."""
        return self.result.ok

    @property
    def backends(self) -> list[BackendResult]:
        return list(self.result.backends)

    def backend(self, label: str) -> BackendResult:
        """The entry of one backend, by its label as given (`armnn:backends=CpuRef`)."""
        for entry in self.result.backends:
            if entry.label == label:
                return entry
        raise KeyError(f"no backend {label!r} in {self.run_dir}; it has {[b.label for b in self.result.backends]}")

    def to_dict(self) -> dict[str, Any]:
        """The same data as result.json."""
        return self.result.to_dict()

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_dataframe(self) -> Any:
        """One row per backend: status, latency percentiles (ms), spread, runs, peak RSS. Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise EdgeqError("to_dataframe needs pandas: pip install pandas") from None
        rows = []
        for entry in self.result.backends:
            t = entry.timing
            rows.append({"board": (self.result.board or {}).get("name"), "model": (self.result.model or {}).get("name"),
                         "backend": entry.label, "status": entry.status, "p50_ms": t.p50_ms, "p90_ms": t.p90_ms,
                         "p99_ms": t.p99_ms, "mean_ms": t.mean_ms, "std_ms": t.std_ms,
                         "cv_pct": None if t.cv is None else 100 * t.cv, "runs": t.count, "reason": entry.reason})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        states = ", ".join(f"{b.label} {b.status}" for b in self.result.backends)
        return f"RunResult({str(self.run_dir)!r}: {states})"


def _run(run_dir: Path, data: dict[str, Any]) -> RunResult:
    return RunResult(Path(run_dir), Result.from_dict(data))


@_python_words
def profile(model: PathLike, board: str = "local", backends: str | Sequence[str] | None = None,
            settings: Any = None, *, runs_dir: PathLike = "runs", eval_data: PathLike | None = None,
            native: PathLike | None = None, accept_new_host_key: bool = False, force_threads: bool = False,
            **changes: Any) -> RunResult:
    """Profile `model` on `board` with each backend; returns the run (also written under `runs_dir`).

    backends: "tflite-cpu,armnn:backends=CpuRef" or a list of such specs (default: tflite-cpu).
    settings: an edgeq.settings.Settings (default: its defaults, the CLI's); keyword arguments named
    like its fields change single settings: runs=20, threads=2, min_seconds=1, pin="big",
    reference="float.tflite", input_file="x.npz", strict=True, ...
    """
    from edgeq.profile.run import profile as run_profile
    from edgeq.settings import DEFAULTS

    specs = [backends] if isinstance(backends, str) else list(backends) if backends else None
    for key in ("reference", "input_file"):
        if changes.get(key) is not None:
            changes[key] = Path(changes[key])
    done = run_profile(Path(model), board, specs, settings or DEFAULTS, runs_dir=Path(runs_dir),
                       eval_data=Path(eval_data) if eval_data else None, native=Path(native) if native else None,
                       accept_new_host_key=accept_new_host_key, force_threads=force_threads, **changes)
    return _run(done.run_dir, done.result)


@_python_words
def load_run(path: PathLike) -> RunResult:
    """A run directory (or its result.json) written by `edgeq profile` or `edgeq.profile()`."""
    from edgeq.report.load import RESULT_FILE, load_run as read

    path = Path(path)
    run = read(path if path.is_file() else path / RESULT_FILE)
    return _run(run.path, run.result)


@_python_words
def deploy(board: str = "local", models: Iterable[PathLike] = (), *, accept_new_host_key: bool = False,
           native: PathLike | None = None) -> Any:
    """Send what `board` needs (runtimes, the agent, `models`) and switch to it; returns the Deployment."""
    from edgeq.deploy.plan import deploy as run_deploy

    return run_deploy(board, [Path(m) for m in models], accept_new_host_key=accept_new_host_key,
                      native=Path(native) if native else None)


@_python_words
def quantize(model: PathLike, modes: str | Sequence[str], calib: PathLike | None = None, out: PathLike = "variants",
             **options: Any) -> list[Any]:
    """Variants of `model`, one per mode, each a .tflite with its sidecar in `out` (needs edgeq[quantize])."""
    from edgeq.quantize.api import quantize as run_quantize

    if options.get("train") is not None:
        options["train"] = Path(options["train"])
    return run_quantize(Path(model), [modes] if isinstance(modes, str) else list(modes),
                        str(calib) if calib is not None else None, Path(out), **options)


@_python_words
def analyze(variants: Iterable[PathLike], eval_data: PathLike | None = None) -> Any:
    """The quantization analysis table (size, accuracy, SQNR per variant); `.render("json")` and friends."""
    from edgeq.quantize.analysis import analyze as run_analyze

    return run_analyze([Path(v) for v in variants], Path(eval_data) if eval_data else None)


@_python_words
def inspect(model: PathLike) -> Any:
    """The model card: signatures, tensors, ops, quantization, predicted verdicts."""
    from edgeq.model.reader import read_card

    return read_card(Path(model))


@_python_words
def report(runs: PathLike | Iterable[PathLike], out: PathLike | None = None, fmt: str | None = None) -> Path:
    """Render run directories as one report (html, md, csv, json); returns the file written."""
    from edgeq.report.api import report as run_report

    paths = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(r) for r in runs]
    refuse_overwriting_inputs(out, paths, "out")
    return run_report(paths, Path(out) if out else None, fmt)


@_python_words
def compare(baseline: PathLike | Iterable[PathLike], new: PathLike | Iterable[PathLike],
            max_regression: str | float = "5%") -> Any:
    """Latency, energy and accuracy change per cell; `.regressions`, `.markdown`, `.check()` raises on one."""
    from edgeq.report.api import compare_runs

    def side(value: PathLike | Iterable[PathLike]) -> Path | list[Path]:
        return Path(value) if isinstance(value, (str, Path)) else [Path(v) for v in value]

    return compare_runs(side(baseline), side(new), max_regression)


@_python_words
def run_recipe(recipe: PathLike, only: str | None = None, dry_run: bool = False, retry_failed: bool = False) -> Any:
    """Run a recipe's whole matrix (cached, resumable); returns the RecipeRun (run_dir, counters, failed)."""
    from edgeq.live import Live
    from edgeq.recipe import run_recipe as run

    with Live(quiet=True) as live:
        return run(Path(recipe), only=only, dry_run=dry_run, retry_failed=retry_failed, live=live)


@_python_words
def list_boards() -> list[Any]:
    """Every board record on the search path ($EDGEQ_BOARDS, ~/.config/edgeq/boards, the shipped ones)."""
    from edgeq.boards.catalog import list_boards as listed

    return listed()


@_python_words
def load_board(name: str) -> Any:
    """One board record by name (a pydantic model: `.connection`, `.cpu`, `.backends`, ...)."""
    from edgeq.boards.catalog import load_board as load

    return load(name)
