"""The odd-model corpus on the emulated aarch64 board: profiled with outputs checked, or refused
before upload, each backend as the rule tables of its runtime predicted (issue #15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeq.testing.oddmodels import CUSTOM_OP

from .conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.emulated

# One request per rule table the board's runtimes are judged by.
BACKENDS = {"tflite-cpu:runtime=ai_edge_litert": "ai_edge_litert",
            "tflite-cpu:runtime=tflite_runtime": "tflite_runtime", "armnn": "pyarmnn"}
NAMES = ["fp16_dequantize", "custom_op", "prelu", "two_signatures", "mixed_io", "dynamic_batch", "while_loop",
         "metadata", "buffers_after", "string_input"]


def _outcome(entry: dict) -> str:
    if entry["status"] != "ok":
        return "refused"
    return "runs" if (entry.get("coverage") or {}).get("fully_delegated", True) else "runs partly"


# The corpus's predictions here are 20.08's and tflite-runtime's: on the bookworm board only (the
# trixie board has no tflite-runtime and ArmNN 23.08's table; its own tests are test_emulated_profile.py).
@pytest.mark.parametrize("emulated_board", ["qemu-aarch64"], indirect=True)
@pytest.mark.parametrize("name", NAMES)
def test_each_corpus_model_on_the_emulated_board(name: str, emulated_board: dict, odd_models: dict[str, Path],
                                                 tmp_path: Path) -> None:
    model = odd_models[name]
    inspected = run_cli("inspect", str(model), "--json")
    assert inspected.returncode == 0, inspected.stderr
    card = json.loads(inspected.stdout)
    predicted = {label: next(p["verdict"] for p in card["verdicts"] if p["runtime"] == runtime)
                 for label, runtime in BACKENDS.items()}
    ran = run_cli("profile", "--board", "qemu-aarch64", "--model", str(model), "--backend", ",".join(BACKENDS),
                  "--runs", "2", "--warmup", "0", "--timeout", "300", "--runs-dir", str(tmp_path / "runs"), "--json",
                  timeout=1200)
    assert ran.returncode in (0, 2), (ran.returncode, ran.stderr)
    if ran.returncode == 2:
        assert_one_line_error(ran, 2, str(model))
        assert name in ("custom_op", "string_input")
        assert (CUSTOM_OP in ran.stderr) if name == "custom_op" else ("strings" in ran.stderr)
        if name == "custom_op":
            assert set(predicted.values()) == {"refused"}
        return
    result = json.loads(ran.stdout)
    outcomes = {entry["label"]: _outcome(entry) for entry in result["backends"]}
    assert outcomes == predicted, [(e["label"], e.get("reason")) for e in result["backends"]]
    verdicts = result["correctness"]["backends"]
    ran_ok = [e["label"] for e in result["backends"] if e["status"] == "ok"]
    assert ran_ok and sorted(verdicts) == sorted(ran_ok)
    assert all(v["passed"] for v in verdicts.values()), verdicts


@pytest.mark.parametrize("emulated_board", ["qemu-aarch64"], indirect=True)  # tflite-runtime: bookworm's board
def test_a_custom_op_library_cross_built_for_the_board(emulated_board: dict, odd_models: dict[str, Path],
                                                        tmp_path: Path) -> None:
    """The aarch64 build runs the custom op on the board, the host's x86_64 build computes the reference;
    with the board's build alone the board's results stay and the run says why it has no reference."""
    from edgeq.testing import customop

    host = customop.build(tmp_path / "x86_64")
    arm = customop.build(tmp_path / "aarch64", "aarch64-linux-gnu-gcc")

    def profile(*given: Path) -> dict:
        options = [word for path in given for word in ("--custom-op-library", f"{path}:{customop.REGISTERER}")]
        ran = run_cli("profile", "--board", "qemu-aarch64", "--model", str(odd_models["custom_op"]), "--backend",
                      "tflite-cpu:runtime=tflite_runtime", *options, "--runs", "2", "--warmup", "0", "--timeout",
                      "300", "--runs-dir", str(tmp_path / "runs"), "--json", timeout=1200)
        assert ran.returncode == 0, ran.stderr
        return json.loads(ran.stdout)

    both = profile(arm, host)
    (cpu,) = both["backends"]
    assert cpu["status"] == "ok" and cpu["info"]["runtime"] == "tflite_runtime", cpu.get("reason")
    assert both["correctness"]["backends"][cpu["label"]]["passed"]
    assert f"with {customop.LIBRARY}" in both["correctness"]["reference"]["runtime"]
    alone = profile(arm)
    assert alone["backends"][0]["status"] == "ok"
    assert any(w.startswith("no reference: ") and "the host (x86_64) has no build of" in w
               for w in alone["warnings"]), alone["warnings"]
