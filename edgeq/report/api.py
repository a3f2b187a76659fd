"""`edgeq report` and `edgeq compare` as typed functions; the CLI only adapts arguments to them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from edgeq.errors import ConfigError

from . import csvout, formats, html, jsonout, markdown  # noqa: F401  (each registers its format)
from .compare import CompareResult, compare
from .data import collect
from .load import load_runs
from .variants import is_analysis
from .verdict import DEFAULT_MAX_ACCURACY_DROP

DEFAULT_NAME = "report"


def report(run_dirs: list[Path], out: Path | None = None, fmt: str | None = None,
           max_accuracy_drop: str | float = DEFAULT_MAX_ACCURACY_DROP) -> Path:
    """Render run directories (or folders of them) as one HTML, Markdown, CSV or JSON report.

    `run_dirs` may also name `edgeq analyze --format json` tables. The format is `fmt`,
    else the suffix of `out`, else html. `out` may be a folder; without it the report
    is ./report.<suffix>. `max_accuracy_drop` (a fraction, or "1" / "1pt" for percentage
    points) is the verdict's accuracy budget. Returns the file written.
    """
    chosen = formats.get(fmt) if fmt else (out and formats.by_suffix(Path(out).suffix)) or formats.get("html")
    target = Path(out) if out else Path(f"{DEFAULT_NAME}.{chosen.suffix}")
    if target.is_dir():
        target = target / f"{DEFAULT_NAME}.{chosen.suffix}"
    text = render_report(run_dirs, chosen.name, max_accuracy_drop)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)  # a reader never sees half a report
    return target


def render_report(run_dirs: Sequence[str | Path], fmt: str = "html",
                  max_accuracy_drop: str | float = DEFAULT_MAX_ACCURACY_DROP) -> str:
    """The report's text in format `fmt` (html, md, csv, json), written nowhere: `edgeq report -o -`."""
    budget = parse_accuracy_drop(max_accuracy_drop)
    analyses = [Path(p) for p in run_dirs if is_analysis(Path(p))]
    runs = [Path(p) for p in run_dirs if Path(p) not in analyses]
    if not runs:
        raise ConfigError("report: give at least one run directory")
    return formats.get(fmt).render(collect(load_runs(runs), analyses, budget))


def parse_accuracy_drop(value: str | float) -> float:
    """'1' or '1pt' (percentage points, as the CLI takes it) or a float below 1 (a fraction) -> a fraction."""
    if isinstance(value, float):
        return value
    text = str(value).strip().removesuffix("pt").removesuffix("%").strip()
    try:
        points = float(text)
    except ValueError:
        raise ConfigError(f"--max-accuracy-drop {value!r}: expected percentage points, like 1 or 0.5") from None
    if not 0 <= points <= 100:
        raise ConfigError(f"--max-accuracy-drop {value!r}: must be between 0 and 100 points")
    return points / 100


def parse_regression(value: str | float) -> float:
    """'5%' or 0.05 -> 0.05; a bare number of 1 or more is refused, since 5 could mean 5% or 500%."""
    text = str(value).strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(f"--max-regression {value!r}: expected a percentage like 5% or a fraction like 0.05") \
            from None
    if not text.endswith("%") and share >= 1:
        raise ConfigError(f"--max-regression {value!r}: write {text}% for a percentage, or a fraction below 1")
    if share < 0:
        raise ConfigError(f"--max-regression {value!r}: must not be negative")
    return share


def compare_runs(baseline: Path | Sequence[Path], new: Path | Sequence[Path],
                 max_regression: str | float = "5%") -> CompareResult:
    """Compare NEW runs with BASELINE runs: latency, energy and accuracy per cell; exit 1 on a regression.

    Each side is a run directory, a folder of them, or a list of either; repeated runs of
    one configuration on a side are pooled, and narrow the interval. The caller prints
    `.markdown`, then calls `.check()`, which raises CheckFailed (exit 1) with a one-line summary.
    """
    return compare(load_runs(_paths(baseline)), load_runs(_paths(new)), parse_regression(max_regression))


def _paths(side: Path | Sequence[Path]) -> list[Path]:
    return [side] if isinstance(side, (str, os.PathLike)) else list(side)
