"""Deploy and profile on the emulated aarch64 board: real arm64 runtimes, outputs against the host's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.deploy.plan import deploy
from edgeq.profile.run import profile

from .conftest import run_cli

pytestmark = pytest.mark.emulated

BACKENDS = ["tflite-cpu:runtime=ai_edge_litert", "tflite-cpu:runtime=tflite_runtime",
            "armnn:backends=CpuAcc", "armnn:backends=CpuRef"]


def _host_reference(model: Path, inputs: Path) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    with np.load(inputs) as saved:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], saved["input_0"])
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_boards_show_and_facts_say_aarch64_cortex_a72(emulated_board: dict) -> None:
    shown = run_cli("boards", "show", "qemu-aarch64")
    assert shown.returncode == 0 and "aarch64" in shown.stdout
    ran = run_cli("facts", "--board", "qemu-aarch64", "--json", timeout=600)
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["arch"] == "aarch64"
    assert found["cpu"]["model"] == "Cortex-A72"
    assert {"CpuAcc", "CpuRef"} <= set(found["pyarmnn"]["backends"])


def test_deploy_sends_aarch64_wheels_once(emulated_board: dict, models: dict[str, Path]) -> None:
    first = deploy("qemu-aarch64", [models["float"], models["int8"]])
    assert first.python.endswith("/venv/bin/python")
    again = deploy("qemu-aarch64", [models["float"], models["int8"]])
    assert (again.bytes_sent, again.files_sent, again.deployment) == (0, 0, first.deployment)


@pytest.mark.parametrize("kind", ["float", "int8"])
def test_every_runtime_matches_the_host(kind: str, emulated_board: dict, models: dict[str, Path],
                                        tmp_path: Path) -> None:
    run = profile(models[kind], board="qemu-aarch64", backends=BACKENDS, runs=3, warmup=1,
                  runs_dir=tmp_path / "runs", timeout_s=300)
    result = run.result
    assert result["board"]["emulated"] is True
    assert result["facts"]["arch"] == "aarch64"
    assert any("not representative" in w for w in result["warnings"])
    reference = _host_reference(models[kind], run.run_dir / "inputs.npz")
    for entry in result["backends"]:
        assert entry["status"] == "ok", (entry["label"], entry.get("reason"))
        with np.load(run.run_dir / "outputs" / entry["outputs"]) as saved:
            got = saved["output_0"]
        # float: the same arithmetic up to summation order; int8: at most one quantization step.
        tolerance = 1e-5 if kind == "float" else 1
        diff = np.max(np.abs(got.astype(np.float64) - reference.astype(np.float64)))
        assert diff <= tolerance, (entry["label"], diff)
    runtimes = {e["label"]: (e["info"]["runtime"], e["info"].get("armnn_backends")) for e in result["backends"]}
    assert runtimes[BACKENDS[0]][0] == "ai_edge_litert" and runtimes[BACKENDS[1]][0] == "tflite_runtime"
    assert runtimes[BACKENDS[2]] == ("pyarmnn", ["CpuAcc"]) and runtimes[BACKENDS[3]] == ("pyarmnn", ["CpuRef"])
    # ArmNN's own profiler: per-layer times, and the NEON workloads of CpuAcc by name.
    cpu_acc = next(e for e in result["backends"] if e["label"] == BACKENDS[2])["layers"]
    assert cpu_acc["source"] == "armnn-profiler" and cpu_acc["count"] >= 5
    assert any(layer["backend"] == "CpuAcc" and layer["name"].startswith("Neon") for layer in cpu_acc["top"])
    assert all(layer["median_us"] > 0 for layer in cpu_acc["top"])


def test_the_table_labels_emulated_timings(emulated_board: dict, models: dict[str, Path], tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", "qemu-aarch64", "--model", str(models["float"]), "--runs", "2",
                  "--runs-dir", str(tmp_path / "runs"), timeout=600)
    assert ran.returncode == 0, ran.stderr
    assert "EMULATED: timings are not representative of real hardware" in ran.stdout
