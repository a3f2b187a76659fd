"""Outputs are checked against a host reference on every profile; wrong ones are flagged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import ConfigError
from edgeq.profile.run import profile

from .conftest import Board, assert_one_line_error, run_cli

BACKENDS = ["tflite-cpu", "tflite-cpu:runtime=tflite_runtime", "armnn:backends=CpuRef"]


def _perturbed(int8_model: Path, out: Path) -> Path:
    """The int8 model with its last layer's weights negated after quantization: it still loads
    and runs everywhere, and every runtime computes the same wrong answer."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(int8_model))
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    fully_connected = 9
    op = next(o for o in graph.operators if codes[o.opcodeIndex] == fully_connected)
    buffer = model.buffers[graph.tensors[op.inputs[1]].buffer]
    weights = np.asarray(buffer.data, dtype=np.uint8).view(np.int8)
    buffer.data = np.clip(-weights.astype(np.int16), -127, 127).astype(np.int8).view(np.uint8)
    flatbuffer_utils.write_model(model, str(out))
    return out


def test_every_result_carries_a_correctness_section(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    run = profile(models["float"], board=board.name, backends=BACKENDS, runs=2, warmup=0, runs_dir=tmp_path)
    section = json.loads((run.run_dir / "result.json").read_text())["correctness"]
    assert section["schema"] == "edgeq.correctness/1"
    assert section["reference"]["kind"] == "same-model"
    assert set(section["backends"]) == set(BACKENDS)
    for verdict in section["backends"].values():
        assert verdict["passed"] and verdict["sqnr_db"] > 60 and verdict["cosine"] > 0.99999
        assert verdict["top1_agree"] is True


def test_quantized_outputs_pass_against_the_float_model(models: dict[str, Path], board: Board,
                                                         tmp_path: Path) -> None:
    run = profile(models["int8"], board=board.name, backends=BACKENDS, runs=2, warmup=0, runs_dir=tmp_path,
                  reference=models["float"])
    section = run.result["correctness"]
    assert section["reference"]["kind"] == "float-model"
    for label, verdict in section["backends"].items():
        assert verdict["passed"], (label, verdict)
        assert 15 < verdict["sqnr_db"] < 60  # quantization error is there, and small
    assert not [w for w in run.result["warnings"] if "do not match" in w]


def test_corrupted_outputs_are_flagged_everywhere(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    bad = _perturbed(models["int8"], tmp_path / "tiny_int8_perturbed.tflite")
    args = ["profile", "--board", board.name, "--model", str(bad), "--reference", str(models["float"]),
            "--backend", ",".join(BACKENDS), "--runs", "2", "--runs-dir", str(tmp_path / "runs")]
    ran = run_cli(*args)
    assert ran.returncode == 0, ran.stderr  # flagged, but not an error without --strict
    assert ran.stdout.count("MISMATCH") == 3 and "Outputs that do not match:" in ran.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    for label in BACKENDS:
        verdict = result["correctness"]["backends"][label]
        assert not verdict["passed"] and "SQNR" in verdict["why"]
    assert sum("do not match the reference" in w for w in result["warnings"]) == 3
    strict = run_cli(*args, "--strict")
    assert_one_line_error(strict, 1, "outputs do not match the reference on board testhost", "SQNR")


def test_a_reference_of_another_shape_is_refused(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    from edgeq import zoo

    other = zoo.build("mobilenet_v1", tmp_path / "mb.tflite", alpha=0.25, resolution=128)
    with pytest.raises(ConfigError, match="do not match the model's"):
        profile(models["float"], board=board.name, runs=1, runs_dir=tmp_path, reference=other)


def _labelled_by_float(model: Path, path: Path, count: int = 24) -> Path:
    """Labels from the float model's own top-1 on the host: the float model must score 1.0."""
    from edgeq.profile.correctness import reference_outputs

    x = np.random.default_rng(7).uniform(-1, 1, size=(count, 16, 16, 3)).astype(np.float32)
    y = np.array([int(np.argmax(reference_outputs(model, [x[i:i + 1]])[0])) for i in range(count)])
    np.savez(path, x=x, y=y)
    return path


def test_eval_data_gives_accuracy_per_backend_on_the_board(models: dict[str, Path], board: Board,
                                                           tmp_path: Path) -> None:
    data = _labelled_by_float(models["float"], tmp_path / "eval.npz")
    run = profile(models["float"], board=board.name, backends=BACKENDS, runs=2, warmup=0, runs_dir=tmp_path / "a",
                  eval_data=data)
    for entry in run.result["backends"]:
        assert entry["accuracy"] == {"samples": 24, "top1": 1.0}, entry["label"]
    # The int8 model takes int8 inputs: the float samples are quantized with its input scale.
    run = profile(models["int8"], board=board.name, backends=BACKENDS, runs=2, warmup=0, runs_dir=tmp_path / "b",
                  eval_data=data)
    scores = {e["label"]: e["accuracy"]["top1"] for e in run.result["backends"]}
    assert len(set(scores.values())) == 1, scores  # three runtimes, the same answers
    assert 0.5 <= scores["tflite-cpu"] <= 1.0


def test_eval_data_of_the_wrong_form_is_refused(models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((4, 16, 16, 3), np.float32))
    np.savez(tmp_path / "shape.npz", x=np.zeros((4, 8, 8, 3), np.float32), y=np.zeros(4))
    base = ["profile", "--board", board.name, "--model", str(models["float"]), "--runs-dir", str(tmp_path / "r")]
    assert_one_line_error(run_cli(*base, "--eval", str(tmp_path / "nolabels.npz")), 2, "arrays 'x'", "'y'")
    assert_one_line_error(run_cli(*base, "--eval", str(tmp_path / "shape.npz")), 2,
                          "x must be [N, 16, 16, 3]", "found x [4, 8, 8, 3]")
