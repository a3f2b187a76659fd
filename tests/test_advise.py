"""`edgeq advise` on the digits CNN: one real advise per module (the host as board `local`), checked
against its own measured cells; the same command on the emulated aarch64 board."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeq import zoo
from edgeq.advise.answer import build, front
from edgeq.advise.candidates import Candidate
from edgeq.advise.measure import Cell
from edgeq.advise.racing import Budget, settle
from edgeq.advise.layers import graph_ops
from edgeq.recipe.schema import load_recipe

from .conftest import Ran, assert_one_line_error, run_cli, write_board
from .test_report import chromium

BUDGET = 1.0


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return zoo.build_keras("digits-cnn", tmp_path_factory.mktemp("digits") / "digits.keras")


def _advise(digits: dict[str, Path], work: Path, env: dict[str, str], board: str = "local",
            *extra: str) -> Ran:
    return run_cli("advise", "--board", board, "--model", str(digits["model"]), "--calib", str(digits["train"]),
                   "--eval", str(digits["eval"]), "--max-accuracy-drop", str(BUDGET), "--work-dir", str(work),
                   "--rounds", "3", "--round-seconds", "0.1", *extra, env=env, timeout=900)


@pytest.fixture(scope="module")
def advised(digits: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The host as a private board called `local`, two backends, one thread: fp32, int8 and the mixed variants."""
    root = tmp_path_factory.mktemp("advise")
    write_board(root / "boards", "local", root / "board-work")
    env = {"EDGEQ_BOARDS": str(root / "boards")}
    ran = _advise(digits, root / "work", env, "local", "--backends", "tflite-cpu", "armnn:backends=CpuRef",
                  "--modes", "fp32", "int8", "--mixed-k", "1", "2")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads((root / "work" / "advice.json").read_text())
    return {"ran": ran, "answer": answer, "work": root / "work", "env": env}


def _rows(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in answer["candidates"]}


def test_recommendation_is_the_fastest_measured_within_budget(advised: dict[str, Any]) -> None:
    answer, rows = advised["answer"], _rows(advised["answer"])
    rec = answer["recommendation"]
    assert rec is not None
    assert f"recommended: {rec['id']}" in advised["ran"].stdout
    baseline = answer["baseline_accuracy"]
    within = [r for r in rows.values() if r["status"] == "ok" and r["accuracy"] is not None
              and r["p50_ms"] is not None and 100 * (baseline - r["accuracy"]) <= BUDGET + 1e-9]
    assert 100 * (baseline - rec["accuracy"]) <= BUDGET + 1e-9
    assert rec["p50_ms"] == min(r["p50_ms"] for r in within)
    assert rec["p50_ci_ms"][0] <= rec["p50_ms"] <= rec["p50_ci_ms"][1]
    runner = answer["runner_up"]
    assert runner is not None and runner["id"] != rec["id"] and runner["p50_ms"] >= rec["p50_ms"]
    assert runner["margin"]["ci"][0] <= runner["margin"]["ratio"] <= runner["margin"]["ci"][1]
    # The front in the JSON is the front of the measured cells, and the HTML draws every measured cell.
    measured = {i: (r["p50_ms"], r["accuracy"]) for i, r in rows.items() if r["status"] == "ok" and r["p50_ms"]}
    assert answer["pareto"]["objective"] == front(measured)
    joint = {i: (r["p50_ms"], r["size_bytes"], r["accuracy"]) for i, r in rows.items() if i in measured}
    assert answer["pareto"]["joint"] == front(joint)
    assert rec["id"] in answer["pareto"]["objective"]
    html = (advised["work"] / "advice.html").read_text()
    for fetch in ("<link", " src=", "@import", "url(", "http://", "https://"):
        assert fetch not in html, fetch  # opens offline
    dumped = chromium(advised["work"], "--dump-dom", (advised["work"] / "advice.html").as_uri())
    assert dumped.returncode == 0, dumped.stderr
    assert not [line for line in dumped.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert 'title="click to sort"' in dumped.stdout  # the page's script ran
    assert dumped.stdout.count('class="point"') == len(measured)  # every measured cell on the Pareto chart
    for cell in measured:
        assert f"<title>{cell}:" in dumped.stdout
    for row in rows.values():  # every other candidate says why it lost
        if row["verdict"] != "recommended":
            assert row["why"], row
    # The recipe reproduces the recommendation with `edgeq run`.
    recipe = load_recipe(advised["work"] / "recipe.yaml")
    assert recipe.backend_list[0].spec == rec["backend"] and recipe.backend_list[0].threads == [rec["threads"]]
    assert Path(recipe.models[0].file or "").name.endswith(f".{rec['variant']}.tflite")


def test_lower_precision_on_cpuref_is_recommended_against(advised: dict[str, Any]) -> None:
    rows = _rows(advised["answer"])
    fp32 = rows["fp32/armnn:backends=CpuRef/t1"]
    assert fp32["status"] == "ok" and fp32["p50_ms"] > 0
    int8 = rows["int8/armnn:backends=CpuRef/t1"]
    assert int8["verdict"] == "rejected"
    if int8["status"] == "ok":
        assert "slower" in int8["why"]
    else:  # pyarmnn's CpuRef may abort on TensorFlow's int8 digits model: a refusal, with the runtime's words
        assert int8["why"].startswith("refused on the board: ") and "use fp32 on this backend" in int8["why"]
    # Wherever a quantized variant measured slower than fp32 on its own backend, the answer says so.
    slower = []
    for row in rows.values():
        same = rows.get(f"fp32/{row['backend']}/t{row['threads']}")
        if row["variant"] != "fp32" and row["p50_ms"] and same and same["p50_ms"] and row["p50_ms"] > same["p50_ms"]:
            assert row["verdict"] != "recommended" and "lower precision is slower here" in row["why"], row
            slower.append(row["id"])
    # On this host at least one such case is real: int8 refused by CpuRef, or slower than fp32 somewhere
    # (XNNPACK ran the digits CNN's fp32 1.2-1.5x faster than its int8 and mixed variants).
    assert slower or int8["status"] != "ok"


def test_mixed_precision_variant_measured_with_its_sensitivity(advised: dict[str, Any]) -> None:
    answer, rows = advised["answer"], _rows(advised["answer"])
    mixed = [r for r in rows.values() if r["variant"].startswith("int8-mixed-k") and r["status"] == "ok"]
    assert mixed and all(r["runs"] > 0 and r["accuracy"] is not None for r in mixed)
    html = (advised["work"] / "advice.html").read_text()
    assert all(f"<title>{r['id']}:" in html for r in mixed)  # placed on the Pareto chart
    sens = answer["sensitivity"]
    ranked = sorted((r for r in sens["layers"] if r["sqnr_int8_db"] is not None), key=lambda r: r["sqnr_int8_db"])
    for variant in sens["mixed"]:  # the k most sensitive layers are the ones kept in float
        assert variant["float_layers"] == [r["index"] for r in ranked[:variant["k"]]]
    assert 'id="sensitivity"' in html and "svg class=\"chart sensitivity\"" in html
    # Model Explorer node data (GraphNodeData): results keyed by node output tensor names, {value: number},
    # and a gradient with stops 0 and 1.
    data = json.loads((advised["work"] / "sensitivity.nodedata.json").read_text())
    assert set(data) <= {"results", "thresholds", "gradient"}
    ops = graph_ops(next((advised["work"] / "variants").glob("*/digits.fp32.tflite")).read_bytes())
    names = {name for op in ops for name in op["outputs"]}
    assert data["results"] and set(data["results"]) <= names
    assert all(set(v) == {"value"} and isinstance(v["value"], float) for v in data["results"].values())
    stops = [g["stop"] for g in data["gradient"]]
    assert stops[0] == 0 and stops[-1] == 1 and all("bgColor" in g for g in data["gradient"])


def test_advise_resumes_without_measuring_again(advised: dict[str, Any], digits: dict[str, Path]) -> None:
    measured = advised["work"] / "measured.json"
    before = json.loads(measured.read_text())
    runs = sorted(p.name for p in (advised["work"] / "runs").iterdir())
    ran = _advise(digits, advised["work"], advised["env"], "local", "--backends", "tflite-cpu",
                  "armnn:backends=CpuRef", "--modes", "fp32", "int8", "--mixed-k", "1", "2")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(measured.read_text()) == before
    assert sorted(p.name for p in (advised["work"] / "runs").iterdir()) == runs
    again = json.loads((advised["work"] / "advice.json").read_text())
    assert again["recommendation"]["id"] == advised["answer"]["recommendation"]["id"]


def test_advise_bad_input_is_one_line(digits: dict[str, Path], tmp_path: Path) -> None:
    ran = run_cli("advise", "--model", str(digits["model"]), "--work-dir", str(tmp_path))
    assert_one_line_error(ran, 2, "--calib")
    ran = run_cli("advise", "--model", str(digits["model"]), "--calib", str(digits["train"]), "--backends",
                  "tflite-cpu", "armnm:backends=CpuRef", "--work-dir", str(tmp_path))
    assert_one_line_error(ran, 2, "unknown backend 'armnm'", "Choose from")
    ran = run_cli("advise", "--model", str(digits["model"]), "--calib", str(digits["train"]), "--threads", "64",
                  "--work-dir", str(tmp_path))
    assert_one_line_error(ran, 2, "--threads 64")
    assert not (tmp_path / "variants").exists()  # refused before anything was quantized


@pytest.mark.emulated
@pytest.mark.parametrize("emulated_board", ["qemu-aarch64"], indirect=True)  # its expectations are bookworm's
def test_advise_on_the_emulated_board(emulated_board: dict, digits: dict[str, Path], tmp_path: Path) -> None:
    ran = _advise(digits, tmp_path / "work", {}, "qemu-aarch64", "--backends", "tflite-cpu", "--threads", "1",
                  "--modes", "fp32", "int8", "--mixed-k", "1", "--rounds", "2")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads((tmp_path / "work" / "advice.json").read_text())
    rec = answer["recommendation"]
    assert rec is not None and 100 * (answer["baseline_accuracy"] - rec["accuracy"]) <= BUDGET + 1e-9
    ok = [r for r in answer["candidates"] if r["status"] == "ok" and r["within_budget"]]
    assert rec["p50_ms"] == min(r["p50_ms"] for r in ok)
    assert any(r["variant"].startswith("int8-mixed") and r["runs"] for r in answer["candidates"])


def _cell(variant: str, backend: str, ms: float | None, accuracy: float | None, status: str = "ok",
          rounds: int = 1, seed: int = 0) -> Cell:
    rng = np.random.default_rng(seed)
    cell = Cell(Candidate(variant, backend, 1), status=status, accuracy=accuracy,
                reason=None if status == "ok" else "the backend process was killed by SIGABRT")
    if ms is not None:
        cell.samples_ns = [list((ms * 1e6 * rng.lognormal(0, 0.02, 200)).astype(int)) for _ in range(rounds)]
    return cell


def test_racing_rule_stops_what_cannot_win() -> None:
    """The rule alone, on synthetic samples: refused, over budget and clearly slower stop after round 1;
    a candidate within noise of the leader keeps racing."""
    fast = _cell("int8", "tflite-cpu", 1.0, 0.99)
    twin = _cell("fp16", "tflite-cpu", 1.0, 0.99, seed=1)
    slow = _cell("fp32", "tflite-cpu", 1.5, 1.0, seed=2)
    lossy = _cell("int4-weights", "tflite-cpu", 0.5, 0.90, seed=3)
    broken = _cell("int8", "armnn:backends=CpuRef", None, None, status="failed")
    cells = [fast, twin, slow, lossy, broken]
    sizes = {"int8": 40, "fp16": 80, "fp32": 160, "int4-weights": 30}
    budget = Budget(baseline=1.0, max_drop=1.0)
    leader = settle(cells, budget, "latency", sizes, 0)
    assert leader in (fast, twin) and leader.settled is None
    assert slow.settled and slow.settled.startswith(f"slower than {leader.candidate.id}: 1.5")
    assert lossy.settled and lossy.settled.startswith("over the accuracy budget") and "10.00 points" in lossy.settled
    assert broken.settled and broken.settled.startswith("refused on the board: ")
    other = twin if leader is fast else fast
    assert other.settled is None  # not separated from the leader: it races on
    result = build(cells, [], budget, "latency", sizes, {"model": "m.keras", "board": "b"})
    assert result["recommendation"]["id"] == leader.candidate.id
    assert result["runner_up"]["id"] == other.candidate.id and not result["runner_up"]["margin"]["separated"]
    # int4 was fastest but over budget: on the latency/accuracy front, not recommended.
    assert "int4-weights/tflite-cpu/t1" in result["pareto"]["objective"]
