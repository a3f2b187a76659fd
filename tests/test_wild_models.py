"""Models as users bring them: the odd-model corpus read by `edgeq inspect`, profiled or refused.

Each corpus model is profiled on the local board with every backend; what the rule
tables predicted before the run must be what the runtimes then did (issue #15).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeq.model.reader import read_card
from edgeq.testing.oddmodels import CUSTOM_OP, LABELS

from .conftest import Board, assert_one_line_error, run_cli

BACKENDS = ["tflite-cpu", "tflite-gpu", "armnn"]


def _card(path: Path) -> dict:
    ran = run_cli("inspect", str(path), "--json")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def test_inspect_reads_each_property_of_the_corpus(odd_models: dict[str, Path]) -> None:
    fp16 = _card(odd_models["fp16_dequantize"])
    assert fp16["quantization"] == "fp16"
    assert fp16["weights_from_dequantize"] == ["CONV_2D features"]
    assert fp16["weights"]["fp16 via DEQUANTIZE"]["bytes"] == 4 * 3 * 3 * 3 * 2
    assert _card(odd_models["custom_op"])["custom_ops"] == [CUSTOM_OP]
    assert _card(odd_models["prelu"])["ops"] == {"PRELU": 1}
    two = _card(odd_models["two_signatures"])
    assert [s["key"] for s in two["signatures"]] == ["add_one", "times_two"]
    assert [s["subgraph"] for s in two["signatures"]] == [0, 1]
    mixed = _card(odd_models["mixed_io"])
    ins = mixed["signatures"][0]["inputs"]
    assert [t["dtype"] for t in ins] == ["float32", "float16", "int8", "uint8", "int16", "int32", "int64", "bool"]
    assert ins[2]["scales"] == [pytest.approx(0.05)] and ins[2]["zero_points"] == [3]
    assert [t["dtype"] for t in mixed["signatures"][0]["outputs"]] == ["float32", "int32", "bool"]
    assert mixed["quantization"] == "fp32"
    dynamic = _card(odd_models["dynamic_batch"])["signatures"][0]["inputs"][0]
    assert dynamic["shape"] == [-1, 4] and dynamic["dynamic"] is True
    loop = _card(odd_models["while_loop"])
    assert loop["control_flow"] == ["WHILE"] and [g["name"] for g in loop["subgraphs"]] == ["main", "cond", "body"]
    meta = _card(odd_models["metadata"])["metadata"]
    assert meta["name"] == "odd classifier" and meta["version"] == "1.2" and meta["author"] == "edgeq tests"
    assert meta["inputs"][0]["normalization"] == {"mean": [127.5], "std": [127.5]}
    assert meta["outputs"][0]["labels"] == len(LABELS) and meta["outputs"][0]["first_labels"] == list(LABELS)
    after = _card(odd_models["buffers_after"])
    assert after["size"]["buffers_after_flatbuffer"] is True and after["size"]["weights_bytes"] == (12 + 3) * 4
    assert _card(odd_models["string_input"])["signatures"][0]["inputs"][0]["dtype"] == "string"


def test_inspect_prints_the_card_with_predicted_verdicts(odd_models: dict[str, Path]) -> None:
    ran = run_cli("inspect", str(odd_models["fp16_dequantize"]))
    assert ran.returncode == 0, ran.stderr
    assert "quantization fp16" in ran.stdout
    armnn = next(line for line in ran.stdout.splitlines() if "pyarmnn 20.08" in line)
    assert "refused" in armnn and "DEQUANTIZE" in armnn
    assert "runs" in next(line for line in ran.stdout.splitlines() if "ai_edge_litert" in line)


def test_inspect_prints_a_card_for_every_corpus_model(odd_models: dict[str, Path]) -> None:
    """The text card of each corpus model ends with one predicted verdict per rule table."""
    from edgeq.model.rules import tables

    for name, model in odd_models.items():
        ran = run_cli("inspect", str(model))
        assert ran.returncode == 0, (name, ran.stderr)
        lines = ran.stdout.splitlines()
        assert lines[0].startswith(f"{model.name}: ") and "quantization " in lines[0], (name, lines[0])
        predicted = lines[lines.index("  predicted:") + 1:]
        assert len(predicted) == len(tables()), (name, predicted)
        for line, table in zip(predicted, tables()):
            assert table.key in line and line.split(table.key, 1)[1].strip().startswith(("runs", "refused")), line


def test_a_model_of_int8_tensors_is_int8_whatever_its_name(models: dict[str, Path], tmp_path: Path) -> None:
    neutral = tmp_path / "net.tflite"
    neutral.write_bytes(models["int8"].read_bytes())
    assert read_card(neutral).quantization == "int8"
    assert read_card(models["float"]).quantization == "fp32"


def _outcome(entry: dict) -> str:
    if entry["status"] != "ok":
        return "refused"
    return "runs" if (entry.get("coverage") or {}).get("fully_delegated", True) else "runs partly"


HOST_ARMNN = "20.08"  # python3-pyarmnn of the Debian 12 host (README's apt-get line)
# Each backend profiled, with the rule table that predicts it here (runtime, version).
JUDGED_BY = {"tflite-cpu": ("ai_edge_litert", "2.x"),
             "tflite-cpu:runtime=tflite_runtime": ("tflite_runtime", "2.14"),
             "tflite-gpu": ("litert-gpu", "2.x"), "armnn": ("pyarmnn", HOST_ARMNN)}


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["fp16_dequantize", "custom_op", "prelu", "two_signatures", "mixed_io",
                                  "dynamic_batch", "while_loop", "metadata", "buffers_after", "string_input"])
def test_each_corpus_model_is_profiled_and_checked_or_refused_as_predicted(
        name: str, odd_models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    model = odd_models[name]
    # The host's pyarmnn is Debian 12's 20.08: its table, not 23.08's, predicts what happens here.
    tables = {(p["runtime"], p["version"]): p["verdict"] for p in _card(model)["verdicts"]}
    predicted = {label: tables[table] for label, table in JUDGED_BY.items()}
    ran = run_cli("profile", "--board", board.name, "--model", str(model), "--backend", ",".join(JUDGED_BY),
                  "--runs", "3", "--warmup", "1", "--runs-dir", str(tmp_path / "runs"), "--json")
    assert ran.returncode in (0, 2), (ran.returncode, ran.stderr)
    if ran.returncode == 2:  # refused before anything was sent: one line naming why
        assert_one_line_error(ran, 2, str(model))
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
        assert not (board.work_dir / "runs").exists() or not any((board.work_dir / "runs").iterdir())
        if name == "custom_op":
            assert CUSTOM_OP in ran.stderr
            assert set(predicted.values()) == {"refused"}
        else:
            assert name == "string_input" and "strings" in ran.stderr
        return
    result = json.loads(ran.stdout)
    outcomes = {entry["label"]: _outcome(entry) for entry in result["backends"]}
    assert outcomes == predicted, [(e["label"], e.get("reason")) for e in result["backends"]]
    # profile's pre-flight judged each backend by the same table inspect printed
    assert {label: p["verdict"] for label, p in result["model"]["predicted"].items()} == predicted
    verdicts = result["correctness"]["backends"]
    ran_ok = [e["label"] for e in result["backends"] if e["status"] == "ok"]
    assert ran_ok and sorted(verdicts) == sorted(ran_ok)
    assert all(v["passed"] for v in verdicts.values()), verdicts


def test_a_corrupt_reference_keeps_the_boards_results(
        odd_models: dict[str, Path], models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    """A reference the host cannot compute keeps the board's run: 'no reference: <why>'."""
    corrupt = tmp_path / "corrupt.tflite"
    data = bytearray(odd_models["prelu"].read_bytes())
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    flat = schema.ModelT.InitFromPackedBuf(bytes(data), 0)
    flat.operatorCodes[0].builtinCode = 250  # an op code no runtime has: the host's Interpreter refuses it
    flat.operatorCodes[0].deprecatedBuiltinCode = 127
    corrupt.write_bytes(flatbuffer_utils.convert_object_to_bytearray(flat))
    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["prelu"]), "--reference", str(corrupt),
                  "--runs", "3", "--warmup", "1", "--runs-dir", str(tmp_path / "runs"), "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["backends"][0]["status"] == "ok"
    assert result["correctness"]["reference"]["kind"] == "none"
    assert "builtin_code out of range: 250" in result["correctness"]["why"]
    assert any(w.startswith("no reference: ") for w in result["warnings"])
    (run_dir,) = (tmp_path / "runs").iterdir()
    kept = json.loads((run_dir / "result.json").read_text())
    assert kept["backends"][0]["samples_ns"] and (run_dir / "outputs" / kept["backends"][0]["outputs"]).exists()
    table = run_cli("profile", "--board", board.name, "--model", str(odd_models["prelu"]), "--reference",
                    str(corrupt), "--runs", "2", "--warmup", "0", "--runs-dir", str(tmp_path / "runs"))
    assert table.returncode == 0 and "no reference: ValueError" in table.stdout
    report = run_cli("report", str(run_dir), "-o", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr  # a run without a reference still reports


def test_a_dynamic_batch_is_given_with_input_shape(odd_models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["dynamic_batch"]), "--backend",
                  "tflite-cpu,armnn", "--input-shape", "x=3,4", "--runs", "3", "--warmup", "1",
                  "--runs-dir", str(tmp_path / "runs"), "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    cpu, armnn = result["backends"]
    assert cpu["status"] == "ok" and result["correctness"]["backends"]["tflite-cpu"]["passed"]
    assert result["model"]["inputs"][0]["shape"] == [3, 4]
    with np.load(Path(tmp_path / "runs").glob("*/outputs/*").__next__()) as saved:
        assert saved["output_0"].shape == (3, 3)
    assert armnn["status"] == "refused" and "--input-shape changed x [3, 4]" in armnn["reason"]
    # Without --input-shape the model's own default runs, and the run says so.
    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["dynamic_batch"]), "--runs", "2",
                  "--warmup", "0", "--runs-dir", str(tmp_path / "runs2"), "--json")
    assert any("profiled with the model's default shape [1, 4]" in w for w in json.loads(ran.stdout)["warnings"])


@pytest.mark.parametrize("given, fragment", [("x=3,5", "dim 1 is fixed at 4 by the model, not 5"),
                                             ("y=1,4", "no such input; inputs: x"),
                                             ("x=1", "has 2 dims, not 1"), ("x=1,0", "positive dims")])
def test_a_wrong_input_shape_is_refused_in_one_line(given: str, fragment: str, odd_models: dict[str, Path],
                                                    board: Board, tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["dynamic_batch"]), "--input-shape",
                  given, "--runs-dir", str(tmp_path / "runs"))
    assert_one_line_error(ran, 2, fragment)


def test_open_dims_without_a_default_need_input_shape(odd_models: dict[str, Path]) -> None:
    import dataclasses

    from edgeq.errors import ModelError
    from edgeq.model import shapes
    from edgeq.model.reader import inspect_model

    info = inspect_model(odd_models["dynamic_batch"])
    open_info = dataclasses.replace(info, inputs=(dataclasses.replace(info.inputs[0], shape=(-1, 4)),))
    with pytest.raises(ModelError, match=r"leaves open \[\?,4\]; give them with --input-shape x=1,4"):
        shapes.resolve(open_info, {})
    huge = dataclasses.replace(info, inputs=(dataclasses.replace(info.inputs[0], shape=(1 << 30, 4)),))
    with pytest.raises(ModelError, match="GiB"):
        shapes.resolve(huge, {})
    resolved, notes = shapes.resolve(open_info, {"x": (2, 4)})
    assert resolved.inputs[0].shape == (2, 4) and notes == []


def test_a_second_signature_runs_with_signature(odd_models: dict[str, Path], board: Board, tmp_path: Path) -> None:
    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["two_signatures"]), "--signature",
                  "times_two", "--backend", "tflite-cpu,armnn", "--runs", "3", "--warmup", "1",
                  "--runs-dir", str(tmp_path / "runs"), "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    cpu, armnn = result["backends"]
    assert cpu["status"] == "ok" and cpu["info"]["signature"] == "times_two"
    assert result["correctness"]["backends"]["tflite-cpu"]["passed"]
    assert armnn["status"] == "refused" and "not signature times_two" in armnn["reason"]
    assert "profiled signature times_two (--signature) of add_one, times_two" in result["warnings"]
    (run_dir,) = (tmp_path / "runs").iterdir()
    with np.load(run_dir / "inputs.npz") as given, np.load(run_dir / "outputs" / cpu["outputs"]) as got:
        np.testing.assert_allclose(got["output_0"], 2 * given["input_0"])  # times_two, not add_one
    wrong = run_cli("profile", "--board", board.name, "--model", str(odd_models["two_signatures"]), "--signature",
                    "nope", "--runs-dir", str(tmp_path / "runs2"))
    assert_one_line_error(wrong, 2, "no signature 'nope'; it has add_one, times_two")


def test_a_custom_op_library_runs_the_custom_op_model(odd_models: dict[str, Path], board: Board,
                                                      tmp_path: Path) -> None:
    """--custom-op-library: a library compiled here (edgeq/testing/customop.py) registers EdgeqTimesTwo on
    tflite_runtime, on the board and for the host's reference; backends that cannot load it stay refused."""
    from edgeq.testing import customop

    library = customop.build(tmp_path / "lib")
    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["custom_op"]), "--backend",
                  ",".join(BACKENDS), "--custom-op-library", f"{library}:{customop.REGISTERER}", "--runs", "3",
                  "--warmup", "1", "--runs-dir", str(tmp_path / "runs"), "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    cpu, gpu, armnn = (next(e for e in result["backends"] if e["label"] == label) for label in BACKENDS)
    assert cpu["status"] == "ok", cpu.get("reason")
    assert cpu["info"]["runtime"] == "tflite_runtime"
    assert cpu["options"]["custom_op_registerers"] == [customop.REGISTERER]
    assert result["model"]["predicted"]["tflite-cpu"]["verdict"] == "runs"  # the library's op counts as registered
    for refused in (gpu, armnn):
        assert refused["status"] == "refused" and CUSTOM_OP in refused["reason"]
    assert any("runs on tflite_runtime" in w for w in result["warnings"])
    check = result["correctness"]
    assert check["backends"]["tflite-cpu"]["passed"] and customop.LIBRARY in check["reference"]["runtime"]
    (run_dir,) = (tmp_path / "runs").iterdir()
    with np.load(run_dir / "inputs.npz") as given, np.load(run_dir / "outputs" / cpu["outputs"]) as got:
        np.testing.assert_array_equal(got["output_0"], 2 * given["input_0"])  # the library's op ran
    (shipped,) = (board.work_dir / "runs").glob("*/custom_ops.so")  # sent into the board's run folder
    assert shipped.read_bytes() == library.read_bytes()


@pytest.mark.parametrize("given, fragment", [("{lib}", "PATH.so:RegisterMyOps"),
                                             ("{lib}:Reg-ister", "not a C function"),
                                             ("/nope.so:Reg", "no such file"),
                                             ("{model}:Reg", "no ELF header")])
def test_a_bad_custom_op_library_is_refused_in_one_line(given: str, fragment: str, odd_models: dict[str, Path],
                                                        board: Board, tmp_path: Path) -> None:
    from edgeq.testing import customop

    library = customop.build(tmp_path / "lib")
    text = given.format(lib=library, model=odd_models["custom_op"])
    ran = run_cli("profile", "--board", board.name, "--model", str(odd_models["custom_op"]), "--custom-op-library",
                  text, "--runs-dir", str(tmp_path / "runs"))
    assert_one_line_error(ran, 2, fragment)


def test_custom_op_builds_are_one_per_architecture(odd_models: dict[str, Path], board: Board,
                                                  tmp_path: Path) -> None:
    """A library runs on the architecture it was built for: the board must get its own build, refused in one
    line before anything is sent when none of those given fits; two builds must differ in arch only."""
    from edgeq.testing import customop

    host = customop.build(tmp_path / "x86_64")
    arm = customop.build(tmp_path / "aarch64", "aarch64-linux-gnu-gcc")
    reg = customop.REGISTERER

    def profile(*given: str) -> subprocess.CompletedProcess[str]:
        options = [word for text in given for word in ("--custom-op-library", text)]
        return run_cli("profile", "--board", board.name, "--model", str(odd_models["custom_op"]), *options,
                       "--runs-dir", str(tmp_path / "runs"))

    assert_one_line_error(profile(f"{arm}:{reg}"), 2,
                          f"no build for the board's x86_64 (given: {customop.LIBRARY} for aarch64)")
    assert_one_line_error(profile(f"{host}:{reg}", f"{host}:{reg}"), 2, "are both built for x86_64")
    assert_one_line_error(profile(f"{host}:{reg}", f"{arm}:Other"), 2, "builds of one library share them")
    assert list((tmp_path / "runs").glob("*")) == [] and list(board.work_dir.glob("runs/*")) == []
    ran = profile(f"{arm}:{reg}", f"{host}:{reg}")  # both: the board takes the host's, being the host
    assert ran.returncode == 0, ran.stderr
    (shipped,) = (board.work_dir / "runs").glob("*/custom_ops.so")
    assert shipped.read_bytes() == host.read_bytes()


def test_only_tflite_runtime_exports_what_a_custom_op_library_calls(tmp_path: Path) -> None:
    """Why --custom-op-library serves tflite_runtime only: a registerer calls MutableOpResolver::AddCustom,
    which tflite-runtime 2.14's interpreter module exports and ai-edge-litert 2.3's does not."""
    import ctypes

    from ai_edge_litert import interpreter as litert
    from tflite_runtime import interpreter as tflite_runtime

    from edgeq.agent.backends import BackendUnavailable
    from edgeq.agent.backends.tflite_interpreter import load_custom_ops
    from edgeq.testing import customop

    add_custom = "_ZN6tflite17MutableOpResolver9AddCustomEPKcPK18TfLiteRegistrationi"
    assert hasattr(ctypes.CDLL(tflite_runtime._interpreter_wrapper.__file__), add_custom)
    assert not hasattr(ctypes.CDLL(litert._interpreter_wrapper.__file__), add_custom)
    with pytest.raises(BackendUnavailable, match="no AddCustom for a library"):
        load_custom_ops("ai_edge_litert", litert, str(customop.build(tmp_path)))


def _damaged(source: Path, out: Path, change) -> Path:  # noqa: ANN001 - change(schema ModelT)
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    flat = schema.ModelT.InitFromPackedBuf(source.read_bytes(), 0)
    change(flat)
    out.write_bytes(flatbuffer_utils.convert_object_to_bytearray(flat))
    return out


def test_a_model_corrupt_inside_keeps_the_boards_results(odd_models: dict[str, Path], board: Board,
                                                         tmp_path: Path) -> None:
    """The profiled model itself is damaged inside (its op versions say 99): the host's runtime cannot
    compute a reference, ArmNN's parser (which reads no versions) runs it; the run is kept, 'no reference'.
    A tensor index past the subgraph's end is refused by the reader before upload instead."""
    def version_99(flat) -> None:  # noqa: ANN001
        for code in flat.operatorCodes:
            code.version = 99

    model = _damaged(odd_models["metadata"], tmp_path / "versions.tflite", version_99)
    ran = run_cli("profile", "--board", board.name, "--model", str(model), "--backend",
                  "tflite-cpu,armnn:backends=CpuRef", "--runs", "3", "--warmup", "1",
                  "--runs-dir", str(tmp_path / "runs"), "--json")
    assert ran.returncode != 4 and "Traceback" not in ran.stderr, ran.stderr
    result = json.loads(ran.stdout)
    cpu, armnn = result["backends"]
    assert cpu["status"] == "failed" and "version '99'" in cpu["reason"]
    assert armnn["status"] == "ok" and armnn["samples_ns"]
    assert result["correctness"]["reference"]["kind"] == "none" and "version '99'" in result["correctness"]["why"]
    (run_dir,) = (tmp_path / "runs").iterdir()
    kept = json.loads((run_dir / "result.json").read_text())
    assert kept["backends"][1]["samples_ns"] and (run_dir / "outputs" / kept["backends"][1]["outputs"]).exists()

    def past_the_end(flat) -> None:  # noqa: ANN001
        op = flat.subgraphs[0].operators[0]
        op.inputs = [op.inputs[0], 1000, *op.inputs[2:]]

    broken = _damaged(odd_models["metadata"], tmp_path / "index.tflite", past_the_end)
    ran = run_cli("profile", "--board", board.name, "--model", str(broken), "--runs-dir", str(tmp_path / "runs2"))
    assert_one_line_error(ran, 2, "an operator refers to tensor 1000")
