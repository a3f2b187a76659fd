"""tflite-gpu for real on the host: LiteRT's GPU accelerator on Mesa's software Vulkan (lavapipe)."""

from __future__ import annotations

import ctypes
import dataclasses
from pathlib import Path

import pytest

from edgeq import zoo
from edgeq.profile.run import profile

from .test_correctness import ZOO_CASES, assert_no_false_mismatch, zoo_folder, zoo_model  # noqa: F401
from .conftest import Board, assert_one_line_error, run_cli

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def vulkan() -> None:
    try:
        ctypes.CDLL("libvulkan.so.1")
    except OSError:
        pytest.fail("no Vulkan loader: run `python -m edgeq.testing.lavapipe` as root", pytrace=False)
    if not Path("/usr/share/vulkan/icd.d/lvp_icd.json").exists():
        pytest.fail("no lavapipe ICD: run `python -m edgeq.testing.lavapipe` as root", pytrace=False)


@pytest.fixture(scope="module")
def fallback_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo.build("tiny-cnn-fallback", tmp_path_factory.mktemp("gpu") / "tiny_fallback.tflite")


def test_a_fully_supported_model_runs_on_the_gpu_and_matches(vulkan: None, models: dict[str, Path], board: Board,
                                                              tmp_path: Path) -> None:
    run = profile(models["float"], board=board.name, backends=["tflite-gpu", "tflite-cpu"], runs=5, warmup=1,
                  runs_dir=tmp_path)
    gpu, cpu = run.result["backends"]
    assert gpu["status"] == "ok", gpu.get("reason")
    assert gpu["info"]["accelerator"] == "litert-gpu" and gpu["info"]["fully_accelerated"] is True
    assert gpu["coverage"] == {"fully_delegated": True, "fallback_ops": []}
    assert run.result["model"]["predicted"]["tflite-gpu"]["verdict"] == "runs"
    verdicts = run.result["correctness"]["backends"]
    assert verdicts["tflite-gpu"]["passed"] and verdicts["tflite-gpu"]["max_abs_error"] < 1e-3
    assert cpu["coverage"]["fully_delegated"] is True
    assert "start" not in cpu or cpu["start"] is None


def test_cold_and_warm_gpu_starts_side_by_side(vulkan: None, models: dict[str, Path], board: Board,
                                               tmp_path: Path) -> None:
    """The first start compiles GPU kernels into an empty cache; a second process reuses them."""
    run = profile(models["float"], board=board.name, backends=["tflite-gpu"], runs=2, warmup=0, runs_dir=tmp_path)
    start = run.result["backends"][0]["start"]
    assert start["cold"]["first_inference_ms"] == run.result["backends"][0]["first_inference_ms"]
    assert start["warm"]["first_inference_ms"] > 0
    assert start["cold"]["first_inference_ms"] > 2 * start["warm"]["first_inference_ms"], start


def test_ops_the_gpu_cannot_run_are_named(vulkan: None, fallback_model: Path, board: Board, tmp_path: Path) -> None:
    run = profile(fallback_model, board=board.name, backends=["tflite-gpu"], runs=3, warmup=0, runs_dir=tmp_path)
    (gpu,) = run.result["backends"]
    assert gpu["status"] == "ok", gpu.get("reason")
    assert gpu["info"]["fully_accelerated"] is False
    assert gpu["coverage"]["fully_delegated"] is False
    assert [o["op"] for o in gpu["coverage"]["fallback_ops"]] == ["L2_NORMALIZATION"]
    assert gpu["coverage"]["nodes_on_cpu"] > 0
    predicted = run.result["model"]["predicted"]["tflite-gpu"]  # inspect's litert-gpu table said so before
    assert predicted["verdict"] == "runs partly" and [r["rule"] for r in predicted["reasons"]] == ["cpu-only-op"]
    assert run.result["correctness"]["backends"]["tflite-gpu"]["passed"]  # partly on the CPU, still right


def test_require_full_delegation_fails_with_the_op_name(vulkan: None, fallback_model: Path, board: Board,
                                                        tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", board.name, "--model", str(fallback_model), "--backend", "tflite-gpu",
                  "--runs", "2", "--require-full-delegation", "--runs-dir", str(tmp_path))
    assert "Fell back to the CPU:" in ran.stdout
    # The litert-gpu rule table predicted it before the run: one warning, then the one-line error.
    warned = [line for line in ran.stderr.splitlines()
              if line.startswith("edgeq: warning: tflite-gpu predicted: runs partly: L2_NORMALIZATION")]
    assert len(warned) == 1, ran.stderr
    rest = "\n".join(line for line in ran.stderr.splitlines() if line not in warned)
    assert_one_line_error(dataclasses.replace(ran, stderr=rest), 1, "not fully delegated on board testhost",
                          "tflite-gpu: L2_NORMALIZATION")


@pytest.mark.parametrize("name, dtype", ZOO_CASES)
def test_zoo_models_pass_on_the_gpu(vulkan: None, name: str, dtype: str, zoo_folder: Path, board: Board,
                                    tmp_path: Path) -> None:
    """fp16 on the GPU is held to the fp16 floor, int8 outputs to the LSB rule: no false MISMATCH."""
    run = profile(zoo_model(name, dtype, zoo_folder), board=board.name, backends=["tflite-gpu"], runs=1, warmup=0,
                  runs_dir=tmp_path)
    assert_no_false_mismatch(run.result, ["tflite-gpu"])


def test_a_dynamic_batch_resized_with_input_shape_runs_on_the_gpu(vulkan: None, odd_models: dict[str, Path],
                                                                  board: Board, tmp_path: Path) -> None:
    """LiteRT's GPU accelerator does not refuse a dynamic batch: a stored [1, 4] (signature [-1, 4]) given
    --input-shape x=3,4 is resized (CompiledModel.resize_input_tensor), stays fully on the GPU and matches."""
    import json

    import numpy as np

    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["dynamic_batch"]), "--backend",
                  "tflite-gpu,tflite-cpu", "--input-shape", "x=3,4", "--runs", "3", "--warmup", "1",
                  "--runs-dir", str(tmp_path / "runs"), "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    gpu = result["backends"][0]
    assert gpu["label"] == "tflite-gpu" and gpu["status"] == "ok", gpu.get("reason")
    assert gpu["info"]["accelerator"] == "litert-gpu" and gpu["info"]["fully_accelerated"] is True
    assert result["model"]["predicted"]["tflite-gpu"]["verdict"] == "runs"
    assert result["correctness"]["backends"]["tflite-gpu"]["passed"]
    (run_dir,) = (tmp_path / "runs").iterdir()
    with np.load(run_dir / "inputs.npz") as given, np.load(run_dir / "outputs" / gpu["outputs"]) as got:
        assert given["input_0"].shape == (3, 4) and got["output_0"].shape == (3, 3)
