"""Recipes: strict validation, the plan, a real run on a private local board, caching, resume, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import edgeq.cli
from edgeq.recipe import load_recipe, make_plan, run_recipe

REPO = Path(__file__).resolve().parent.parent

# tiny-cnn is hand-built (no TensorFlow); int8 comes from ai-edge-quantizer. ArmNN's CpuRef
# aborts on this int8 model (a real crash in pyarmnn), which makes a cell that fails for real.
SMALL = """\
models:
  - zoo: tiny-cnn
    modes: [fp32, int8]
    calib: random
boards: [testhost]
backends: [tflite-cpu, "armnn:backends=CpuRef"]
profile: {{runs: 3, warmup: 1}}
report: {{formats: [md]}}
work_dir: {work}
runs_dir: {runs}
"""


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """`edgeq ...` in-process, as the console script runs it."""
    code = edgeq.cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "small.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.format(work=tmp_path / "work", runs=tmp_path / "runs"))
    return path


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_load_and_plan(recipe: Path) -> None:
    plan = make_plan(load_recipe(recipe))
    assert plan.cells and all(c.id.count("/") == 4 for c in plan.cells)


@pytest.mark.parametrize(("edit", "fragments"), [
    (("backends:", "backend:"), ("unknown key 'backend'", "did you mean 'backends'?")),
    (("[fp32, int8]", "[fp32, int3]"), ("models[0].modes[1]", "Choose from: fp32")),
    (("[testhost]", "[nosuchboard]"), ("boards:", "nosuchboard")),
    (("runs: 3", "runs: 0"), ("profile.runs", "> 0", "found 0")),
])
def test_bad_recipe_is_one_line_error(tmp_path: Path, board, capsys, monkeypatch, edit, fragments) -> None:
    path = write(tmp_path, SMALL.replace(*edit))
    code, _, err = cli(capsys, monkeypatch, "run", str(path), "--dry-run")
    assert code == 2
    line = one_line(err)
    assert str(path) in line
    for fragment in fragments:
        assert fragment in line, line


def test_run_caches_resumes_and_records_failures(tmp_path: Path, board, capsys, monkeypatch) -> None:
    path = write(tmp_path, SMALL)
    code, out, _ = cli(capsys, monkeypatch, "run", str(path), "--dry-run")
    assert code == 0 and "tiny-cnn/int8/testhost/armnn:backends=CpuRef/t1" in out
    assert "4 cells: 0 cached, 4 to run" in out and "to build" in out
    assert not (tmp_path / "runs").exists()

    # First run, interrupted after 2 cells from the per-cell callback.
    def stop_after_two(cell, outcome) -> None:
        done.append(cell.id)
        if len(done) == 2:
            raise KeyboardInterrupt

    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_recipe(path, on_cell=stop_after_two)
    state = json.loads((tmp_path / "work" / "cells.json").read_text())["cells"]
    assert sorted(r["cell"] for r in state.values()) == sorted(done)

    # The resumed run does only the other two cells, and records the crashing one with its reason.
    capsys.readouterr()
    resumed = run_recipe(path)
    assert resumed.counters["cells_cached"] == 2 and resumed.counters["cells_profiled"] == 2
    assert resumed.counters["variants_quantized"] == 0 and resumed.counters["sources_built"] == 0
    assert [c.id for c in resumed.failed] == ["tiny-cnn/int8/testhost/armnn:backends=CpuRef/t1"]
    assert "SIGABRT" in resumed.failed[0].cached["reason"]
    summary = json.loads((resumed.run_dir / "recipe.json").read_text())
    assert {c["status"] for c in summary["cells"]} == {"ok", "failed"} and len(summary["cells"]) == 4
    assert all((resumed.run_dir / c["run_dir"] / "result.json").exists() for c in summary["cells"])
    report = (resumed.run_dir / "report.md").read_text()
    assert "armnn:backends=CpuRef FAILED on testhost for tiny-cnn int8" in report

    # Nothing changed: nothing is built, quantized, deployed or profiled again.
    code, out, _ = cli(capsys, monkeypatch, "run", str(path))
    assert code == 0 and "4 cells: 4 cached, 0 to run" in out and "0 cells run" in out
    again = run_recipe(path, dry_run=True)
    assert all(c.cached for c in again.plan.cells)
    rerun = run_recipe(path)
    assert rerun.counters == {"sources_built": 0, "variants_quantized": 0, "cells_profiled": 0, "cells_cached": 4,
                              "cells_failed": 0, "files_deployed": 0}
    assert (rerun.run_dir / "report.md").exists() and rerun.run_dir != resumed.run_dir

    # --retry-failed runs the failed cell again, and only it; it still fails, with its reason.
    code, out, _ = cli(capsys, monkeypatch, "run", str(path), "--retry-failed")
    assert code == 0 and "4 cells: 3 cached, 1 to run" in out and "1 cells run (1 failed), 3 cached" in out
    assert "FAILED tiny-cnn/int8/testhost/armnn:backends=CpuRef/t1: " in out and "SIGABRT" in out


def test_only_runs_the_matching_cells(tmp_path: Path, board) -> None:
    path = write(tmp_path, SMALL)
    run = run_recipe(path, only="*/fp32/*/tflite-cpu/*")
    assert [c.id for c in run.plan.cells] == ["tiny-cnn/fp32/testhost/tflite-cpu/t1"]
    assert run.counters["variants_quantized"] == 1 and run.counters["cells_profiled"] == 1
