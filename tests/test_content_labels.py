"""A variant is labelled by what its tensors are, not by its file name (issue #15)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from .conftest import Board, assert_one_line_error, run_cli


def _profile(model: Path, board: Board, runs_dir: Path) -> tuple[str, Path]:
    ran = run_cli("profile", "--board", board.name, "--model", str(model), "--runs", "5", "--warmup", "1",
                  "--runs-dir", str(runs_dir))
    assert ran.returncode == 0, ran.stderr
    run_dir = Path(ran.stdout.split("run directory: ")[1].split()[0])
    return ran.stdout, run_dir


def test_a_zoo_int8_model_with_a_neutral_name_is_int8_everywhere(models: dict[str, Path], board: Board,
                                                                  tmp_path: Path) -> None:
    neutral = tmp_path / "net.tflite"
    shutil.copy(models["int8"], neutral)  # no sidecar, no quantization word in the name
    table, run_dir = _profile(neutral, board, tmp_path / "runs")
    assert table.splitlines()[0].startswith("net (") and ", int8) on " in table.splitlines()[0]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["model"]["quantization"] == "int8"
    html = tmp_path / "report.html"
    assert run_cli("report", str(run_dir), "-o", str(html)).returncode == 0
    assert "int8-int8-io" in html.read_text() and ">?<" not in html.read_text()
    ran = run_cli("report", str(run_dir), "--format", "csv", "-o", str(tmp_path / "report.csv"))
    assert ran.returncode == 0, ran.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [(r["model"], r["variant"]) for r in rows] == [("net", "int8-int8-io")]
    ran = run_cli("report", str(run_dir), "--format", "json", "-o", str(tmp_path / "report.json"))
    cells = json.loads((tmp_path / "report.json").read_text())["cells"]
    assert [c["variant"] for c in cells] == ["int8-int8-io"]


def test_content_beats_a_misleading_file_name(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    liar = tmp_path / "net_float32.tflite"
    shutil.copy(models["int8"], liar)
    _, run_dir = _profile(liar, board, tmp_path / "runs")
    ran = run_cli("report", str(run_dir), "--format", "csv", "-o", str(tmp_path / "r.csv"))
    assert ran.returncode == 0, ran.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert [(r["model"], r["variant"]) for r in rows] == [("net", "int8-int8-io")]


def test_compare_of_runs_sharing_no_cell_names_both_sides(models: dict[str, Path], board: Board,
                                                          tmp_path: Path) -> None:
    _, fp32 = _profile(models["float"], board, tmp_path / "base")
    _, int8 = _profile(models["int8"], board, tmp_path / "new")
    ran = run_cli("compare", str(fp32), str(int8))
    line = assert_one_line_error(ran, 2, "share no cell")
    assert f"baseline has {board.name}/tiny/fp32/tflite-cpu" in line
    assert f"new has {board.name}/tiny/int8-int8-io/tflite-cpu" in line
