"""Outputs are checked against a host reference on every profile; wrong ones are flagged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq import zoo
from edgeq.errors import ConfigError
from edgeq.profile.run import profile

from .conftest import Board, assert_one_line_error, run_cli

BACKENDS = ["tflite-cpu", "tflite-cpu:runtime=tflite_runtime", "armnn:backends=CpuRef"]
# The zoo models the floors were measured on (docs/correctness.md); MobileNetV1 1.0/224 takes a minute on CpuRef.
ZOO = {"tiny-cnn": ("tiny-cnn", {}), "mobilenet_v1-0.25-128": ("mobilenet_v1", {"alpha": 0.25, "resolution": 128}),
       "mobilenet_v1-1.0-224": ("mobilenet_v1", {"alpha": 1.0, "resolution": 224})}
ZOO_CASES = [pytest.param(name, dtype, marks=[pytest.mark.slow] if name.endswith("224") else [])
             for name in ZOO for dtype in ("float32", "int8")]
_BUILT: dict[tuple[str, str], Path] = {}


def zoo_model(name: str, dtype: str, folder: Path) -> Path:
    """A zoo model, built once per session (the GPU test reuses them)."""
    if (name, dtype) not in _BUILT:
        model, params = ZOO[name]
        _BUILT[(name, dtype)] = zoo.build(model, folder / f"{name}.{dtype}.tflite", dtype=dtype, **params)
    return _BUILT[(name, dtype)]


@pytest.fixture(scope="session")
def zoo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo-correctness")


def assert_no_false_mismatch(result: dict, labels: list[str]) -> None:
    """Every backend ran and passed; quantized outputs were judged in LSB, float ones by relative error."""
    assert [e["status"] for e in result["backends"]] == ["ok"] * len(labels), [e.get("reason") for e in
                                                                              result["backends"]]
    for label in labels:
        verdict = result["correctness"]["backends"][label]
        assert verdict["passed"], (label, verdict)
        assert "max_lsb" in verdict or "max_rel_error" in verdict["thresholds"], (label, verdict)


@pytest.mark.parametrize("name, dtype", ZOO_CASES)
def test_zoo_models_pass_on_every_cpu_runtime(name: str, dtype: str, zoo_folder: Path, board: Board,
                                              tmp_path: Path) -> None:
    """Correct implementations round differently (MobileNetV1 0.25 int8 on XNNPACK: 24.8 dB, max 2 LSB)."""
    run = profile(zoo_model(name, dtype, zoo_folder), board=board.name, backends=BACKENDS, runs=1, warmup=0,
                  runs_dir=tmp_path)
    assert_no_false_mismatch(run.result, BACKENDS)
    assert not [w for w in run.result["warnings"] if "do not match" in w]


@pytest.mark.slow
def test_dynamic_int8_digits_on_tflite_runtime_214_is_flagged(board: Board, tmp_path: Path) -> None:
    """ai-edge-quantizer's dynamic recipe keeps per-channel Dense weights; tflite-runtime 2.14 loads them and
    computes something else (compat.py). The same file on LiteRT passes."""
    from edgeq.quantize import quantize

    keras = zoo.build_keras("digits-cnn", tmp_path / "digits.keras")["model"]
    (fp32,) = quantize(keras, ["fp32"], None, tmp_path / "v")
    (dynamic,) = quantize(fp32.path, ["dynamic"], None, tmp_path / "v")
    assert dynamic.engine == "ai-edge-quantizer"
    labels = ["tflite-cpu", "tflite-cpu:runtime=tflite_runtime"]
    run = profile(dynamic.path, board=board.name, backends=labels, runs=2, warmup=0, runs_dir=tmp_path / "runs")
    verdicts = run.result["correctness"]["backends"]
    assert verdicts["tflite-cpu"]["passed"], verdicts["tflite-cpu"]
    wrong = verdicts["tflite-cpu:runtime=tflite_runtime"]
    assert not wrong["passed"] and "cosine" in wrong["why"] and "relative error" in wrong["why"]
    assert any("do not match the reference: tflite-cpu:runtime=tflite_runtime" in w for w in run.result["warnings"])


def test_a_self_check_says_same_model_not_infinite_db(models: dict[str, Path], board: Board,
                                                      tmp_path: Path) -> None:
    from edgeq.report.checks import check_figures, check_short

    run = profile(models["int8"], board=board.name, backends=BACKENDS, runs=2, warmup=0, runs_dir=tmp_path)
    section = run.result["correctness"]
    assert section["reference"]["kind"] == "same-model"
    assert "catches a runtime that computes something else" in section["reference"]["why"]
    for label in BACKENDS:  # every runtime gives the reference kernels' integers here
        verdict = section["backends"][label]
        assert verdict["bit_exact"] and verdict["max_lsb"] == 0
        assert check_figures(verdict, "same-model").startswith("same model, bit-exact")
        assert check_short(verdict) == "ok bit-exact"
    ran = run_cli("report", str(run.run_dir), "-o", str(tmp_path / "r.md"))
    text = (tmp_path / "r.md").read_text()
    assert ran.returncode == 0 and "same model, bit-exact" in text and "inf dB" not in text


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


def test_a_run_without_a_reference_says_why_in_the_same_section_as_before() -> None:
    from edgeq.agent.sections import Correctness
    from edgeq.profile.correctness import mismatches, no_reference

    section = no_reference(ValueError("builtin_code out of range:\n  250"), None)
    why = "ValueError: builtin_code out of range: 250"
    assert section.to_dict() == {"schema": "edgeq.correctness/1", "reference": {"kind": "none", "model": "", "why": why},
                                 "why": why, "thresholds": None, "backends": {}}
    assert Correctness.read(section.to_dict()) == section and mismatches(section) == []
    failed = {"backends": {"armnn": {"passed": False, "why": "SQNR 3.0 dB < 15 dB"}, "cpu": {"passed": True}}}
    assert mismatches(failed) == mismatches(Correctness.read(failed)) == ["armnn: SQNR 3.0 dB < 15 dB"]
