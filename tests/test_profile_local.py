"""`edgeq profile` on the local board, against the real runtimes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgeq.agent.records import Result
from edgeq.profile.run import profile
from edgeq.model.inputs import make_inputs
from edgeq.model.reader import inspect_model

from .conftest import Board, assert_one_line_error, run_cli

THREE_RUNTIMES = ["tflite-cpu", "tflite-cpu:runtime=tflite_runtime", "armnn:backends=CpuRef"]


def _dequantize(array: np.ndarray, spec: dict) -> np.ndarray:
    if spec["scale"] is None:
        return array.astype(np.float64)
    return (array.astype(np.float64) - spec["zero_point"]) * spec["scale"]


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_three_runtimes_run_and_agree(kind: str, models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    run = profile(models[kind], board=board.name, backends=THREE_RUNTIMES, runs=30, warmup=3,
                  runs_dir=tmp_path / "runs")
    result = json.loads((run.run_dir / "result.json").read_text())
    assert result["schema"] == "edgeq.result/1"
    assert run.run_dir.name.endswith(f"-{board.name}-tiny_{kind}")
    labels = [b["label"] for b in result["backends"]]
    assert labels == THREE_RUNTIMES
    runtimes = [b["info"]["runtime"] for b in result["backends"]]
    assert runtimes == ["ai_edge_litert", "tflite_runtime", "pyarmnn"], result["backends"]
    out_spec = result["model"]["outputs"][0]
    outputs = []
    for entry in result["backends"]:
        assert entry["status"] == "ok", entry
        samples = entry["samples_ns"]
        assert len(samples) == 30 and all(s > 0 for s in samples)
        assert entry["stats"]["p50_ms"] == pytest.approx(float(np.median(samples)) / 1e6)
        assert entry["stats"]["min_ms"] <= entry["stats"]["p50_ms"] <= entry["stats"]["p99_ms"]
        assert entry["warmup"]["runs"] == 3 and entry["load_ms"] > 0 and entry["first_inference_ms"] > 0
        assert entry["peak_rss_kb"] > 10_000
        with np.load(run.run_dir / "outputs" / entry["outputs"]) as saved:
            outputs.append(_dequantize(saved["output_0"], out_spec))
    # The same inputs through three runtimes: the same answer (int8: within two quantization steps).
    tolerance = 1e-5 if kind == "float" else 2 * out_spec["scale"]
    for other in outputs[1:]:
        assert np.max(np.abs(other - outputs[0])) <= tolerance
    # The inputs saved with the run are the fixed-seed ones the host made.
    with np.load(run.run_dir / "inputs.npz") as saved:
        expected = make_inputs(inspect_model(models[kind]), seed=0)
        np.testing.assert_array_equal(saved["input_0"], expected[0])


def test_cli_prints_table_and_json(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", board.name, "--model", str(models["float"]), "--runs", "10",
                  "--runs-dir", str(tmp_path / "runs"))
    assert ran.returncode == 0, ran.stderr
    assert " p50 " in ran.stdout and "tflite-cpu" in ran.stdout and "ai_edge_litert" in ran.stdout
    row = next(line for line in ran.stdout.splitlines() if line.startswith("tflite-cpu"))
    assert re.search(r"\b\d+(\.\d+)? (µs|ms) ", row), row  # durations carry their unit (µs below 1 ms)
    ran = run_cli("profile", "--board", board.name, "--model", str(models["float"]), "--runs", "10", "--json",
                  "--runs-dir", str(tmp_path / "runs"))
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["backends"][0]["stats"]["count"] == 10
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_user_inputs_are_fed_and_kept(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    data = np.full((1, 16, 16, 3), 0.25, dtype=np.float32)
    np.save(tmp_path / "x.npy", data)
    run = profile(models["float"], board=board.name, runs=2, warmup=0, input_file=tmp_path / "x.npy",
                  runs_dir=tmp_path / "runs")
    with np.load(run.run_dir / "inputs.npz") as saved:
        np.testing.assert_array_equal(saved["input_0"], data)
    assert run.result["inputs"] == {"file": str(tmp_path / "x.npy"), "seed": None}


def test_min_seconds_keeps_measuring(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    run = profile(models["float"], board=board.name, runs=1, warmup=0, min_seconds=0.3, runs_dir=tmp_path / "r")
    entry = run.result["backends"][0]
    assert sum(entry["samples_ns"]) / 1e9 <= 0.3 + 0.1
    assert len(entry["samples_ns"]) > 10


def test_pinning_to_a_cluster_is_recorded(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    run = profile(models["float"], board=board.name, runs=2, warmup=0, pin="first", runs_dir=tmp_path / "r")
    assert run.result["settings"]["cores"] == [0]
    assert run.result["backends"][0]["status"] == "ok"


def test_a_backend_over_its_timeout_is_killed_and_reported(models: dict[str, Path], board: Board,
                                                           tmp_path: Path) -> None:
    run = profile(models["float"], board=board.name, backends=["tflite-cpu", "armnn:backends=CpuRef"], runs=1,
                  min_seconds=30, timeout_s=2, runs_dir=tmp_path / "r")
    for entry in run.result["backends"]:
        assert entry["status"] == "failed"
        assert entry["reason"] == "timed out after 2 s and was killed"
    ran = run_cli("profile", "--board", board.name, "--model", str(models["float"]), "--min-seconds", "30",
                  "--timeout", "1", "--runs-dir", str(tmp_path / "r2"))
    assert_one_line_error(ran, 3, "no backend completed on board testhost", "timed out after 1 s")


def test_armnn_reports_its_slowest_layers(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    run = profile(models["float"], board=board.name, backends=["armnn:backends=CpuRef", "tflite-cpu"], runs=3,
                  warmup=0, runs_dir=tmp_path)
    armnn, tflite = run.result["backends"]
    layers = armnn["layers"]
    assert layers["source"] == "armnn-profiler" and layers["unit"] == "us"
    names = [layer["name"] for layer in layers["top"]]
    assert "RefConvolution2dWorkload" in names and "RefFullyConnectedWorkload" in names
    ids = [layer["id"] for layer in layers["top"]]  # the profiler's event names tell equal workloads apart
    assert len(set(ids)) == len(ids) and all(i.startswith(n + "_Execute") for i, n in zip(ids, names))
    medians = [layer["median_us"] for layer in layers["top"]]
    assert medians == sorted(medians, reverse=True) and medians[0] > 0
    assert all(layer["backend"] in ("CpuRef", None) for layer in layers["top"])
    assert tflite["layers"] is None  # the Interpreter API has no per-op profiler to ask


def test_two_runs_in_one_second_get_two_ids(models: dict[str, Path], board: Board, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A run id has one-second resolution; a second run of the same model in that second gets the
    folder's de-duplicated name as its id, so reports never merge two runs into one row."""
    from edgeq.profile import run as run_module
    monkeypatch.setattr(run_module, "_run_id", lambda record, info: "20261201T000000Z-same-second")
    first, second = (profile(models["float"], board=board.name, runs=1, warmup=0, runs_dir=tmp_path / "r")
                     for _ in range(2))
    assert first.run_dir.name == "20261201T000000Z-same-second"
    assert second.run_dir.name == "20261201T000000Z-same-second-2"
    for made in (first, second):
        assert made.result["run_id"] == made.run_dir.name
        assert json.loads((made.run_dir / "result.json").read_text())["run_id"] == made.run_dir.name


@pytest.mark.parametrize("case", ["float reference", "refused backend"])
def test_result_json_is_what_the_typed_record_writes(case: str, models: dict[str, Path],
                                                    odd_models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    """Issue 14: the host writes result.json from records.Result, so reading it back and writing it again
    changes nothing (every key is one the record and its sections carry), and ProfileRun.result is that JSON."""
    if case == "float reference":
        run = profile(models["int8"], board=board.name, backends=THREE_RUNTIMES, runs=2, warmup=0,
                      runs_dir=tmp_path, reference=models["float"])
    else:  # preflight refuses armnn for a second signature: its entry joins the board's
        run = profile(odd_models["two_signatures"], board=board.name, backends=["tflite-cpu", "armnn"], runs=2,
                      warmup=0, runs_dir=tmp_path, signature="times_two")
    written = json.loads((run.run_dir / "result.json").read_text())
    assert Result.from_dict(written).to_dict() == written
    assert run.result == written and run.record.to_dict() == written
    assert set(written) == {"schema", "agent_version", "started_utc", "finished_utc", "facts", "settings",
                            "backends", "telemetry", "run_id", "board", "model", "inputs", "warnings",
                            "correctness", "warm_agent"}
    checks = run.record.checks
    assert checks.to_dict() == written["correctness"]  # the typed section reads all the writer wrote
    if case == "float reference":
        assert checks.reference_kind == "float-model" and set(checks.checks) == set(THREE_RUNTIMES)
        assert all(c.passed and c.thresholds for c in checks.checks.values())
    else:
        assert [(b.label, b.status) for b in run.record.backends] == [("tflite-cpu", "ok"), ("armnn", "refused")]
        assert checks.reference_kind == "same-model" and list(checks.checks) == ["tflite-cpu"]
