"""Property-based fuzzing of the loaders that read files a user (or a copied folder) hands edgeq:
board and recipe YAML, result.json, and `edgeq analyze --format json` tables. Whatever the input,
the only way out besides success is a clean refusal (an EdgeqError: one line, exit 2), never a
traceback. Bounded: a few hundred examples in all, no deadline on a shared CI machine; the same
examples every run (EDGEQ_FUZZ_RANDOM=1 draws new ones)."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from edgeq.boards.catalog import load_board_file
from edgeq.errors import EdgeqError
from edgeq.recipe.schema import load_recipe
from edgeq.report.compare import compare
from edgeq.report.load import load_run
from edgeq.report.variants import read_analyses

REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=120, deadline=None, derandomize=not os.environ.get("EDGEQ_FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow])
"""The same examples on every run, as tests/test_fuzz_reader.py does: a CI run gates on inputs that
reproduce, not on what a fresh seed happens to find that day. EDGEQ_FUZZ_RANDOM=1 explores new ones."""

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
"""Any JSON/YAML value: the replacements a hostile or damaged file may hold anywhere."""

BOARD = {"name": "fuzz", "arch": "aarch64", "connection": {"kind": "ssh", "host": "board.local", "user": "pi"},
         "cpu": {"model": "BCM2711", "clusters": [{"name": "main", "core": "cortex-a72", "cores": [0, 1, 2, 3]}]},
         "backends": ["tflite-cpu", "armnn"], "python": "/usr/bin/python3", "work_dir": "~/edgeq",
         "keep_runs": {"last": 3, "days": 1.5}}
RESULT = {"schema": "edgeq.result/1", "run_id": "r1", "board": {"name": "fuzz"}, "model": {"name": "m", "inputs": []},
          "settings": {"threads": 1}, "warnings": [],
          "backends": [{"backend": "tflite-cpu", "label": "tflite-cpu", "status": "ok",
                        "stats": {"count": 3, "mean_ms": 1.0, "p50_ms": 1.0, "p90_ms": 1.1, "p99_ms": 1.2,
                                  "min_ms": 0.9, "max_ms": 1.3, "std_ms": 0.1, "cv": 0.1},
                        "samples_ns": [900000, 1000000, 1100000]}]}
ANALYSIS = {"schema": "edgeq.analysis/1", "accuracy_kind": "accuracy",
            "rows": [{"model": "m", "quantization": "int8", "size_kb": 10.5, "compression": 3.9, "accuracy": 0.9,
                      "sqnr_db": "inf", "max_abs_error": 0.1}]}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into `value`, so that a mutation can reach any depth."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, prefix + (index,))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """`base` with a few of its values replaced, deleted, or joined by unknown keys."""
    data: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        if not path:
            data = draw(VALUES) if draw(st.booleans()) and draw(st.booleans()) else data
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(VALUES)
    return data


_SCRATCH: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The examples' files, under pytest's own temp root (which keeps only the last runs' folders):
    a bare mkdtemp left ~600 folders in /tmp per suite run, never removed."""
    _SCRATCH.append(tmp_path_factory.mktemp("fuzz"))
    yield _SCRATCH[-1]
    _SCRATCH.pop()


def _write(text: str, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="example-", dir=_SCRATCH[-1]))  # a file of its own per example
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _refuses_cleanly(call: Any) -> None:
    try:
        call()
    except EdgeqError as exc:
        assert "\n" not in str(exc) and str(exc)


@FUZZ
@given(mutated(BOARD))
def test_board_files(data: Any) -> None:
    _refuses_cleanly(lambda: load_board_file(_write(yaml.safe_dump(data), "fuzz.yaml")))


@FUZZ
@given(st.text(max_size=300))
def test_board_files_of_any_text(text: str) -> None:
    _refuses_cleanly(lambda: load_board_file(_write(text, "fuzz.yaml")))


@FUZZ
@given(st.data())
def test_recipe_files(data: st.DataObject) -> None:
    shipped = yaml.safe_load((REPO / "recipes" / data.draw(st.sampled_from(["quickstart.yaml", "mali-gpu.yaml"])))
                             .read_text())
    recipe = data.draw(mutated(shipped))
    _refuses_cleanly(lambda: load_recipe(_write(yaml.safe_dump(recipe), "fuzz.yaml")))


@FUZZ
@given(mutated(RESULT))
def test_result_files_load_or_refuse_and_what_loads_compares(data: Any) -> None:
    path = _write(json.dumps(data, allow_nan=True), "result.json")

    def load_and_compare() -> None:
        run = load_run(path)
        compare([run], [run], resamples=50)

    _refuses_cleanly(load_and_compare)


@FUZZ
@given(mutated(ANALYSIS))
def test_analysis_tables(data: Any) -> None:
    path = _write(json.dumps(data, allow_nan=True), "analysis.json")
    _refuses_cleanly(lambda: read_analyses([], [path]))
