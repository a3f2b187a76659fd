"""Deploy and profile on the emulated aarch64 boards of both OS generations (Debian 12 bookworm,
Debian 13 trixie): real arm64 runtimes, outputs against the host's, ArmNN's per-layer profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq import zoo
from edgeq.deploy.plan import deploy
from edgeq.profile.correctness import THRESHOLDS
from edgeq.profile.run import profile

from .conftest import run_cli

pytestmark = pytest.mark.emulated

LITERT, TFLITE_RUNTIME = "tflite-cpu:runtime=ai_edge_litert", "tflite-cpu:runtime=tflite_runtime"
CPU_ACC, CPU_REF = "armnn:backends=CpuAcc", "armnn:backends=CpuRef"
BACKENDS = [LITERT, TFLITE_RUNTIME, CPU_ACC, CPU_REF]


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """MobileNetV1 0.25/128 from the zoo (deterministic weights), float32 and fully int8."""
    out = tmp_path_factory.mktemp("mobilenet")
    return {dtype: zoo.build("mobilenet_v1", out / f"mobilenet_v1_025_128.{dtype}.tflite", dtype=dtype,
                             alpha=0.25, resolution=128) for dtype in ("float32", "int8")}


def _host_reference(model: Path, inputs: Path) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    with np.load(inputs) as saved:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], saved["input_0"])
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_facts_say_which_generation_the_board_runs(emulated_board: dict) -> None:
    name, expected = emulated_board["name"], emulated_board["expected"]
    shown = run_cli("boards", "show", name)
    assert shown.returncode == 0 and "aarch64" in shown.stdout
    ran = run_cli("facts", "--board", name, "--json", timeout=600)
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["arch"] == "aarch64"
    assert found["cpu"]["model"] == "Cortex-A72"
    assert found["os"]["codename"] == expected["codename"]
    assert found["python"]["version"].startswith(expected["python"] + ".")
    assert found["numpy"].split(".")[0] == expected["numpy"]
    assert found["pyarmnn"]["armnn_version"].split(".")[0] == expected["armnn"]
    assert {"CpuAcc", "CpuRef"} <= set(found["pyarmnn"]["backends"])
    if expected["armnn"] == "33":  # Debian 13 loads its backends from armnn33/ at run time
        assert any(f.endswith("/armnn33/Arm_CpuAcc_backend.so") for f in found["pyarmnn"]["backend_files"])


def test_deploy_sends_aarch64_wheels_once(emulated_board: dict, mobilenet: dict[str, Path]) -> None:
    name = emulated_board["name"]
    first = deploy(name, [mobilenet["float32"], mobilenet["int8"]])
    assert first.python.endswith("/venv/bin/python")
    if emulated_board["expected"]["python"] == "3.13":
        assert any("tflite-runtime: no wheel for Python 3.13" in note for note in first.notes), first.notes
    again = deploy(name, [mobilenet["float32"], mobilenet["int8"]])
    assert (again.bytes_sent, again.files_sent, again.deployment) == (0, 0, first.deployment)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_every_runtime_matches_the_host(dtype: str, emulated_board: dict, mobilenet: dict[str, Path],
                                        tmp_path: Path) -> None:
    name, expected = emulated_board["name"], emulated_board["expected"]
    run = profile(mobilenet[dtype], board=name, backends=BACKENDS, runs=2, warmup=1,
                  runs_dir=tmp_path / "runs", timeout_s=600)
    result = run.result
    assert result["board"]["emulated"] is True
    assert result["facts"]["arch"] == "aarch64"
    # The deployed venv sees the board's own numpy (Debian's), not one from a wheel.
    assert result["facts"]["numpy"].split(".")[0] == expected["numpy"]
    assert any("not representative" in w for w in result["warnings"])
    entries = {e["label"]: e for e in result["backends"]}
    if expected["python"] == "3.13":  # tflite-runtime has no cp313 wheel: unavailable, with why
        missing = entries.pop(TFLITE_RUNTIME)
        assert missing["status"] == "unavailable", missing
        assert "no wheel for Python 3.13" in missing["reason"]
    reference = _host_reference(mobilenet[dtype], run.run_dir / "inputs.npz")
    for label, entry in entries.items():
        assert entry["status"] == "ok", (label, entry.get("reason"))
        with np.load(run.run_dir / "outputs" / entry["outputs"]) as saved:
            got = saved["output_0"]
        # float: the same arithmetic up to summation order; int8: at most the rounding steps edgeq's own
        # correctness check allows between runtimes (ArmNN rounds differently from LiteRT on MobileNet).
        tolerance = 1e-5 if dtype == "float32" else THRESHOLDS[("same-model", "quantized")]["max_lsb"]
        diff = np.max(np.abs(got.astype(np.float64) - reference.astype(np.float64)))
        assert diff <= tolerance, (label, diff)
    assert entries[LITERT]["info"]["runtime"] == "ai_edge_litert"
    if TFLITE_RUNTIME in entries:
        assert entries[TFLITE_RUNTIME]["info"]["runtime"] == "tflite_runtime"
    for label, backend in ((CPU_ACC, "CpuAcc"), (CPU_REF, "CpuRef")):
        info = entries[label]["info"]
        assert (info["runtime"], info["armnn_backends"]) == ("pyarmnn", [backend])
        assert info["armnn_version"].split(".")[0] == expected["armnn"]
        assert entries[label]["coverage"]["fully_delegated"] is True, entries[label]["coverage"]
    # ArmNN's own profiler: per-layer times, and each backend's workloads by name.
    for label, backend, prefix in ((CPU_ACC, "CpuAcc", "Neon"), (CPU_REF, "CpuRef", "Ref")):
        layers = entries[label]["layers"]
        assert layers["source"] == "armnn-profiler" and layers["count"] >= 20, (label, layers)
        assert any(layer["backend"] == backend and layer["name"].startswith(prefix) for layer in layers["top"])
        assert all(layer["median_us"] > 0 for layer in layers["top"])


def test_the_table_labels_emulated_timings(emulated_board: dict, mobilenet: dict[str, Path],
                                           tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", emulated_board["name"], "--model", str(mobilenet["float32"]),
                  "--runs", "2", "--runs-dir", str(tmp_path / "runs"), timeout=600)
    assert ran.returncode == 0, ran.stderr
    assert "EMULATED: timings are not representative of real hardware" in ran.stdout
