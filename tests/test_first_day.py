"""A user's first day: models edgeq did not make, typos and odd files, through the CLI.

Each test is a failure found by using edgeq as a newcomer would (see the README's main job
and "Your own model"), kept here so it stays fixed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeq.testing.oddmodels import _Graph, _Model, _Op, schema

from .conftest import assert_one_line_error, run_cli


def _two_heads(path: Path) -> Path:
    """A Keras-style model with two heads: class scores and a pooled feature (one input)."""
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("image", [1, 4], np.float32)
    w = g.const("fc/weights", np.arange(12, dtype=np.float32).reshape(3, 4) / 10)
    b = g.const("fc/bias", np.zeros(3, np.float32))
    scores = g.tensor("scores", [1, 3], np.float32)
    g.op(_Op.FULLY_CONNECTED, [x, w, b], [scores], (schema.BuiltinOptions.FullyConnectedOptions,
                                                    schema.FullyConnectedOptionsT()))
    doubled = g.tensor("doubled", [1, 4], np.float32)
    g.op(_Op.ADD, [x, x], [doubled], (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
    m.add(g, {"image": x}, {"scores": scores, "doubled": doubled}, "serving_default")
    path.write_bytes(bytes(m.bytes("first day: two heads")))
    return path


def test_analyze_a_model_with_two_outputs_compares_its_first(tmp_path: Path) -> None:
    model = _two_heads(tmp_path / "heads.tflite")
    ran = run_cli("analyze", str(model), str(model), "--format", "csv")
    assert ran.returncode == 0, ran.stderr  # was: internal error, "too many values to unpack"
    rows = ran.stdout.strip().splitlines()
    assert rows[0].startswith("model,quantization,size_kb")
    assert len(rows) == 3 and all(r.startswith("heads,no quantization,") for r in rows[1:])  # read from its tensors
    assert "XNNPACK" not in ran.stderr  # was LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def test_analyze_of_a_users_own_float_and_int8_files_compares_them(models: dict[str, Path], tmp_path: Path) -> None:
    """Files from another converter have no sidecar: their tensors name the type, and the one float file
    taking and giving the same shapes is the reference (was: "unknown (no sidecar)", every column blank)."""
    mine, theirs = tmp_path / "mine.tflite", tmp_path / "mine_quant.tflite"
    shutil.copy(models["float"], mine)
    shutil.copy(models["int8"], theirs)
    ran = run_cli("analyze", str(theirs), str(mine), "--format", "json")
    assert ran.returncode == 0, ran.stderr
    rows = {r["model"]: r for r in json.loads(ran.stdout)["rows"]}
    assert (rows["mine_quant"]["quantization"], rows["mine"]["quantization"]) == ("int8", "no quantization")
    assert rows["mine_quant"]["compression"] == round(mine.stat().st_size / theirs.stat().st_size, 2) > 1
    assert rows["mine"]["sqnr_db"] == "inf" and 0 < rows["mine_quant"]["sqnr_db"] < 100
    assert rows["mine_quant"]["accuracy"] is not None
    shutil.copy(models["float"], tmp_path / "other.tflite")  # a second float of the same shapes: no guess
    ran = run_cli("analyze", str(theirs), str(mine), str(tmp_path / "other.tflite"), "--format", "json")
    assert ran.returncode == 0, ran.stderr
    rows = {r["model"]: r for r in json.loads(ran.stdout)["rows"]}
    assert rows["mine_quant"]["sqnr_db"] is None and rows["mine_quant"]["compression"] is None


def test_analyze_a_model_with_several_inputs_is_refused_in_one_line(odd_models: dict[str, Path]) -> None:
    ran = run_cli("analyze", str(odd_models["mixed_io"]))
    assert_one_line_error(ran, 2, "the analysis feeds one input, this model has 8", "in_float32")


def test_a_mistyped_option_is_one_line_with_the_closest_option() -> None:
    ran = run_cli("profile", "--model", "m.tflite", "--runz", "5")
    line = assert_one_line_error(ran, 2, "edgeq profile: error: unrecognized arguments: --runz 5",
                                 "did you mean --runs?", "see `edgeq profile --help`")
    assert "usage:" not in ran.stderr, line  # was: the whole usage block of the top-level parser
    ran = run_cli("profile", "--model", "a.tflite", "-m", "b.tflite", "--backend", "tflite-cpu")
    # was: exit 0 after profiling b.tflite alone, a.tflite dropped without a word
    assert_one_line_error(ran, 2, "argument -m/--model: given twice (a.tflite, b.tflite); it takes one")
    ran = run_cli("zoo", "build", "mobilenet_v1", "--alpha", "0.3")
    assert_one_line_error(ran, 2, "edgeq zoo build: error: argument --alpha: invalid choice: 0.3")


def test_a_mistyped_backend_is_the_users_option_said_before_anything_is_sent(tmp_path: Path) -> None:
    model = _two_heads(tmp_path / "heads.tflite")
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--backend", "tflite-cpu,armnn:backend=CpuRef",
                  cwd=tmp_path)
    # was "board local: backends[0]: ...", from the agent, after the model had been sent
    assert_one_line_error(ran, 2, "--backend 'armnn:backend=CpuRef': backend 'armnn' has no option 'backend'")
    assert not (tmp_path / "runs").exists()


def _keras_style_dynamic_batch(path: Path) -> Path:
    """What TensorFlow's converter writes for a Keras model: the signature calls the input
    `keras_tensor`, the graph tensor is `serving_default_keras_tensor:0`, batch dynamic."""
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("serving_default_keras_tensor:0", [1, 4], np.float32, signature=[-1, 4])
    y = g.tensor("StatefulPartitionedCall:0", [1, 4], np.float32, signature=[-1, 4])
    g.op(_Op.ADD, [x, x], [y], (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
    m.add(g, {"keras_tensor": x}, {"output_0": y}, "serving_default")
    path.write_bytes(bytes(m.bytes("first day: keras-style names")))
    return path


def test_input_shape_takes_the_name_inspect_shows(tmp_path: Path) -> None:
    model = _keras_style_dynamic_batch(tmp_path / "k.tflite")
    shown = run_cli("inspect", str(model))
    assert "keras_tensor " in shown.stdout and "(dynamic: give --input-shape keras_tensor=...)" in shown.stdout
    output = next(line for line in shown.stdout.splitlines() if "output_0" in line)
    assert output.endswith("(dynamic: follows the inputs' shapes)"), output  # was: give --input-shape NAME=...
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--backend", "tflite-cpu", "--runs", "2",
                  "--input-shape", "keras_tensor=3,4", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr  # was: exit 2, "the model has no such input"
    assert json.loads(ran.stdout)["model"]["inputs"][0]["shape"] == [3, 4]
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--input-shape", "image=3,4", cwd=tmp_path)
    assert_one_line_error(ran, 2, "inputs: serving_default_keras_tensor:0 (or keras_tensor)")
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--input-shape", "keras_tensor=3,5", cwd=tmp_path)
    # was "--input-shape serving_default_keras_tensor:0: ...", a name the user had not written
    assert_one_line_error(ran, 2, "--input-shape keras_tensor: dim 1 is fixed at 4 by the model, not 5")


def test_empty_and_mismatched_data_files_are_one_line(tmp_path: Path) -> None:
    model = _two_heads(tmp_path / "heads.tflite")
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "wrong.npz", x=np.zeros((2, 5), np.float32))
    np.save(tmp_path / "none.npy", np.zeros((0, 4), np.float32))
    # was "quantize failed: error: unpack_from requires a buffer of at least 4 bytes", from TensorFlow
    assert_one_line_error(run_cli("quantize", str(empty), "--mode", "dynamic", "-q"), 2, "not a TFLite model")
    # the three below were internal errors (EOFError, a runtime's ValueError, np.stack of nothing)
    assert_one_line_error(run_cli("analyze", str(model), "--eval", str(tmp_path / "empty.npz"), "-q"), 2,
                          "empty.npz: cannot read arrays")
    assert_one_line_error(run_cli("analyze", str(model), "--eval", str(tmp_path / "wrong.npz"), "-q"), 2,
                          "samples have shape (5,), heads.tflite takes (4,)")
    assert_one_line_error(run_cli("analyze", str(model), "--eval", str(tmp_path / "none.npy"), "-q"), 2,
                          "none.npy: no samples")
    np.savez(tmp_path / "eval.npz", x=np.zeros((3, 4), np.float32), y=np.zeros(3))  # what zoo and --eval use
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--inputs", str(tmp_path / "eval.npz"),
                  cwd=tmp_path)
    assert_one_line_error(ran, 2, "holds 2 arrays (x, y) but the model has inputs image; labelled samples (x, y) "
                          "go to --eval")  # was without the way out


def test_a_recipe_typo_names_the_recipe_entry_not_an_option(tmp_path: Path) -> None:
    model = _two_heads(tmp_path / "heads.tflite")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"models:\n  - file: {model}\nboards: [local]\nbackends: [tflite-cpu, tflite-cpuu]\n")
    line = assert_one_line_error(run_cli("run", str(recipe), "--dry-run"), 2,
                                 "r.yaml: backends[1]: unknown backend 'tflite-cpuu'")
    assert "--backend" not in line
    recipe.write_text(f"models:\n  - file: {model}\nboards: [local]\nbackend: [tflite-cpu]\n")
    # was "(and 1 more)", which read as if the list it follows went on
    assert_one_line_error(run_cli("run", str(recipe), "--dry-run"), 2, "unknown key 'backend'; did you mean "
                          "'backends'? (and 1 more problem)")


def test_a_hand_written_board_record_with_a_host_means_ssh(tmp_path: Path) -> None:
    from edgeq.boards.schema import Connection

    # was "connection: missing required key 'kind'", the first error of a record written from the README
    assert Connection.model_validate({"host": "mypi", "user": "pi"}).kind == "ssh"
    assert Connection.model_validate({"ssh_alias": "mypi"}).kind == "ssh"
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "mypi.yaml").write_text("name: mypi\narch: aarch64\nconnection: {host: 127.0.0.1, port: twentytwo}\n"
                                      "cpu: {model: unknown}\npython: /usr/bin/python3\nbackends: [tflite-cpu]\n")
    ran = run_cli("boards", "show", "mypi", env={"EDGEQ_BOARDS": str(boards)})
    assert_one_line_error(ran, 2, "mypi.yaml: connection.port: expected a whole number, found 'twentytwo'")


def test_the_runs_own_warnings_reach_the_terminal(tmp_path: Path) -> None:
    model = _keras_style_dynamic_batch(tmp_path / "k.tflite")
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--backend", "tflite-cpu", "--runs", "2",
                  cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    # was: only in result.json, though the README says the profile "says so"
    # and by the name `edgeq inspect` shows (was the graph tensor's, serving_default_keras_tensor:0)
    assert "edgeq: warning: input keras_tensor is dynamic in dims [0]; profiled with the " \
           "model's default shape [1, 4] (--input-shape keras_tensor=... for another)" in ran.stderr


def _two_heads_profiled(tmp_path: Path) -> tuple[Path, Path]:
    """_two_heads profiled on the local board under tmp_path: the model and its run directory."""
    model = _two_heads(tmp_path / "heads.tflite")
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--backend", "tflite-cpu", "--runs", "2",
                  "-q", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    return model, next((tmp_path / "runs").iterdir())


def test_an_output_never_overwrites_a_run_or_an_input(tmp_path: Path) -> None:
    model, run = _two_heads_profiled(tmp_path)
    kept = (run / "result.json").read_bytes()
    # was: exit 0, and the run's result.json replaced by a Markdown report
    assert_one_line_error(run_cli("report", str(run), "-o", str(run / "result.json"), "--format", "md"), 2,
                          "that is a file of the run directory")
    assert_one_line_error(run_cli("compare", str(run), str(run), "-o", str(run / "job.json")), 2,
                          "that is a file of the run directory")
    assert_one_line_error(run_cli("analyze", str(model), "-o", str(model)), 2, "one of the files this command reads")
    assert (run / "result.json").read_bytes() == kept and model.stat().st_size > 0
    assert run_cli("report", str(tmp_path / "runs"), "-o", str(tmp_path / "runs")).returncode == 0  # a folder is fine
    assert (tmp_path / "runs" / "report.html").exists()


def test_a_governor_that_was_not_set_is_said(capsys) -> None:  # type: ignore[no-untyped-def]
    import argparse
    from types import SimpleNamespace

    from edgeq.cli.running import _notes

    result = {"warnings": [], "backends": [], "warm_agent": "off",
              "telemetry": {"governor": {"requested": "performance", "policies": {},
                                         "reason": "no cpufreq policies under /sys/devices/system/cpu/cpufreq"}}}
    run = SimpleNamespace(result=result, ok=True)
    _notes([SimpleNamespace(board="local", value=run)], {}, argparse.Namespace(json=False))
    # was: only in result.json's telemetry; the run went on under the board's own governor
    assert capsys.readouterr().err == ("edgeq: warning: --governor performance was not set: no cpufreq policies "
                                       "under /sys/devices/system/cpu/cpufreq\n")


def test_the_api_report_never_overwrites_a_run(tmp_path: Path) -> None:
    import edgeq
    from edgeq.errors import ConfigError

    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "result.json").write_text("{}")
    try:
        edgeq.report(run, out=run / "result.json", fmt="md")
    except ConfigError as error:
        assert "that is a file of the run directory" in str(error) and str(error).startswith("out ")
    else:
        raise AssertionError("edgeq.report wrote over the run's result.json")
    assert (run / "result.json").read_text() == "{}"


def test_boards_add_with_a_bad_name_or_an_unreachable_host(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    # was an internal error (FileNotFoundError on <tmp>/my/pi.yaml)
    assert_one_line_error(run_cli("boards", "add", "my/pi", "--host", "x", "--no-check", env=env), 2,
                          "board name 'my/pi': expected lower case letters")
    ran = run_cli("boards", "add", "mypi", "--host", "127.0.0.1", "--port", "1", env=env)
    # was: "the address is in /tmp/tmpXXXX/mypi.yaml", a scratch file already gone
    line = assert_one_line_error(ran, 3, "cannot connect to board mypi",
                                 f"{tmp_path / 'config' / 'edgeq' / 'boards' / 'mypi.yaml'} (not written")
    assert "/tmp/tmp" not in line and not (tmp_path / "config" / "edgeq" / "boards" / "mypi.yaml").exists()


def _layer_norm_core(path: Path) -> Path:
    """What a Keras LayerNormalization becomes: MEAN, SQUARED_DIFFERENCE, RSQRT... kept to its telling op."""
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("x", [1, 4], np.float32)
    mu = g.const("mean", np.full((1, 4), 0.5, np.float32))
    y = g.tensor("sq", [1, 4], np.float32)
    g.op(_Op.SQUARED_DIFFERENCE, [x, mu], [y])
    m.add(g, {"x": x}, {"sq": y}, "serving_default")
    path.write_bytes(bytes(m.bytes("first day: squared difference")))
    return path


def _armnn_cpuref_refuses_beside_tflite(model: Path, tmp_path: Path, reason: str) -> None:
    """Profiled on the local board, tflite-cpu runs and ArmNN CpuRef fails saying `reason`."""
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--backend", "tflite-cpu,armnn:backends=CpuRef",
                  "--runs", "2", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    done = {b["label"]: b for b in json.loads(ran.stdout)["backends"]}
    assert done["tflite-cpu"]["status"] == "ok"
    assert done["armnn:backends=CpuRef"]["status"] != "ok" and reason in done["armnn:backends=CpuRef"]["reason"]


def test_armnn_2008_is_predicted_to_refuse_squared_difference_as_it_does(tmp_path: Path) -> None:
    model = _layer_norm_core(tmp_path / "ln.tflite")
    card = json.loads(run_cli("inspect", str(model), "--json").stdout)
    armnn = next(p for p in card["verdicts"] if p["backend"] == "armnn" and p["version"] == "20.08")
    assert armnn["verdict"] == "refused", armnn  # was "runs"
    _armnn_cpuref_refuses_beside_tflite(model, tmp_path, "SQUARED_DIFFERENCE")


def test_armnn_2008_is_predicted_to_refuse_a_dense_layer_without_bias_as_it_does(tmp_path: Path) -> None:
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("x", [1, 4], np.float32)
    w = g.const("dense/kernel", np.arange(12, dtype=np.float32).reshape(3, 4) / 10)
    y = g.tensor("y", [1, 3], np.float32)
    # what TensorFlow writes for a Dense layer whose bias is all zeros (an untrained Keras model)
    g.op(_Op.FULLY_CONNECTED, [x, w, -1], [y], (schema.BuiltinOptions.FullyConnectedOptions,
                                                schema.FullyConnectedOptionsT()))
    m.add(g, {"x": x}, {"y": y}, "serving_default")
    model = tmp_path / "nobias.tflite"
    model.write_bytes(bytes(m.bytes("first day: dense without bias")))
    card = json.loads(run_cli("inspect", str(model), "--json").stdout)
    armnn = next(p for p in card["verdicts"] if p["backend"] == "armnn" and p["version"] == "20.08")
    assert armnn["verdict"] == "refused" and "FULLY_CONNECTED layer has no bias" in armnn["reasons"][0]["says"]
    _armnn_cpuref_refuses_beside_tflite(model, tmp_path, "non-negative")


def test_a_file_where_an_output_folder_goes_and_a_folder_where_an_output_file_goes(tmp_path: Path) -> None:
    model = _two_heads(tmp_path / "heads.tflite")
    # the three were internal errors (FileExistsError, IsADirectoryError)
    assert_one_line_error(run_cli("zoo", "build", "tiny-cnn", "-o", str(model / "x.tflite")), 2,
                          f"{model} is a file, not a folder")
    assert_one_line_error(run_cli("quantize", str(model), "--mode", "dynamic", "-o", str(model), "-q"), 2,
                          f"{model} is a file, not a folder")
    assert_one_line_error(run_cli("analyze", str(model), "-o", str(tmp_path), "-q"), 2,
                          "is a folder; give a file name")
    assert model.stat().st_size > 0


_KERAS3_MODEL = """
import sys
import numpy as np
import keras  # Keras 3: what `tf.keras` is in TensorFlow 2.16 and later
keras.utils.set_random_seed(0)
inputs = keras.Input((64,))
hidden = keras.layers.Dense(32, activation="relu", bias_initializer="ones")(inputs)
model = keras.Model(inputs, keras.layers.Dense(4, bias_initializer="ones")(hidden))
model.save(sys.argv[1])
model.save(sys.argv[1].replace(".keras", ".h5"))  # the legacy format, still written by Keras 3
np.savez(sys.argv[2], x=np.random.default_rng(0).random((8, 64), dtype=np.float32), y=np.arange(8) % 4)
"""


@pytest.mark.slow
def test_a_keras_3_model_saved_by_todays_tensorflow_is_quantized(tmp_path: Path) -> None:
    keras_file, data = tmp_path / "mine.keras", tmp_path / "calib.npz"
    subprocess.run([sys.executable, "-c", _KERAS3_MODEL, str(keras_file), str(data)], check=True, capture_output=True)
    ran = run_cli("quantize", str(keras_file), "--mode", "fp32", "--mode", "int8", "--calib", str(data),
                  "-o", str(tmp_path / "v"), "-q")
    # was: exit 2, "quantize failed: TypeError: Could not deserialize class 'Functional' because its parent
    # module tf_keras.src.models.functional cannot be imported. Full object config: {...}" (500 characters)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "v" / "mine.fp32.tflite").stat().st_size > 8000 and (tmp_path / "v" / "mine.int8.tflite").exists()
    shown = run_cli("inspect", str(tmp_path / "v" / "mine.int8.tflite")).stdout
    assert "    input_layer " in shown and "xs_0" not in shown  # the Keras input's name (was the tracing lambda's)
    ran = run_cli("quantize", str(tmp_path / "mine.h5"), "--mode", "fp32", "-o", str(tmp_path / "h5"), "-q")
    assert ran.returncode == 0, ran.stderr  # was: "TypeError: Error when deserializing class 'InputLayer'..."
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 5), np.float32))
    ran = run_cli("quantize", str(keras_file), "--mode", "int8", "--calib", str(tmp_path / "wrong.npz"), "-q",
                  "-o", str(tmp_path / "w"))
    assert_one_line_error(ran, 2, "wrong.npz: samples have shape (5,), the model takes (64,)")
    ran = run_cli("quantize", str(keras_file), "--mode", "qat", "--train", str(data), "-o", str(tmp_path / "q"), "-q")
    assert_one_line_error(ran, 2, "mine.keras was saved by Keras 3", "qat needs a tf_keras (Keras 2) model")


def test_analyze_of_models_the_host_cannot_run_or_that_take_other_inputs(odd_models: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    model = _two_heads(tmp_path / "heads.tflite")  # takes (1, 4)
    np.savez(tmp_path / "eval.npz", x=np.zeros((3, 4), np.float32))
    # was: internal error, "RuntimeError: Encountered unresolved custom op: EdgeqTimesTwo..." from LiteRT
    assert_one_line_error(run_cli("analyze", str(odd_models["custom_op"]), "-q"), 2,
                          "custom_op.tflite: the host's LiteRT cannot run it", "custom op")
    # was: internal error, "ValueError: Cannot set tensor: Dimension mismatch" (only the first file was checked)
    assert_one_line_error(run_cli("analyze", str(model), str(odd_models["prelu"]), "--eval",
                                  str(tmp_path / "eval.npz"), "-q"), 2, "samples have shape (4,)", "prelu.tflite takes")
    assert_one_line_error(run_cli("analyze", str(model), str(odd_models["prelu"]), "-q"), 2,
                          "heads.tflite takes (4,)", "prelu.tflite takes", "models of the same input")


def test_quantize_refuses_a_model_that_is_already_quantized(models: dict[str, Path],
                                                             odd_models: dict[str, Path], tmp_path: Path) -> None:
    # was: exit 0 and tiny_int8.dynamic.tflite, int8 weights under a sidecar saying "dynamic"; an fp16 model's
    # "fp32" variant kept its fp16 weights, and analyze then called it "no quantization"
    for source, stored in ((models["int8"], "int8"), (odd_models["fp16_dequantize"], "fp16")):
        ran = run_cli("quantize", str(source), "--mode", "fp32", "--mode", "dynamic", "-o", str(tmp_path / "v"), "-q")
        assert_one_line_error(ran, 2, f"{source}: already quantized ({stored}, by its tensors)", "from the float model")
    assert not (tmp_path / "v").exists()
    ran = run_cli("quantize", str(models["float"]), "--mode", "dynamic", "--target", "tflite-runtime==2.99",
                  "-o", str(tmp_path / "t"))
    assert ran.returncode == 0, ran.stderr  # was: not a word, as if 2.99 had been checked and found fine
    assert "edgeq: warning: --target tflite-runtime==2.99: newer than every runtime version edgeq has rules " \
           "for; nothing is checked against it" in ran.stderr


def _tf_dynamic_range(path: Path, head_weights: int) -> Path:
    """What TensorFlow's dynamic range makes of two Dense layers: the big one's weights in int8, the head's in
    float when it has fewer than 1024 weights (min_elements_for_weights); float activations throughout."""
    m = _Model()
    g = _Graph(m, "main")
    fc = (schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT())
    x = g.tensor("x", [1, 64], np.float32)
    w = g.tensor("dense/kernel", [32, 64], np.int8, np.ones((32, 64), np.int8), quant=([0.01], [0]))
    hidden = g.tensor("hidden", [1, 32], np.float32)
    g.op(_Op.FULLY_CONNECTED, [x, w, -1], [hidden], fc)
    head = g.const("head/kernel", np.ones((head_weights // 32, 32), np.float32))
    y = g.tensor("y", [1, head_weights // 32], np.float32)
    g.op(_Op.FULLY_CONNECTED, [hidden, head, -1], [y], fc)
    m.add(g, {"x": x}, {"y": y}, "serving_default")
    path.write_bytes(bytes(m.bytes("first day: TensorFlow's dynamic range")))
    return path


def test_tensorflows_dynamic_range_with_a_small_float_head_is_dynamic(tmp_path: Path) -> None:
    model = _tf_dynamic_range(tmp_path / "dyn.tflite", head_weights=4 * 32)
    # was "mixed": every TensorFlow dynamic-range model with a layer under 1024 weights (a classifier head)
    assert json.loads(run_cli("inspect", str(model), "--json").stdout)["quantization"] == "dynamic"
    big_head = _tf_dynamic_range(tmp_path / "mixed.tflite", head_weights=64 * 32)  # a big layer left float: mixed
    assert json.loads(run_cli("inspect", str(big_head), "--json").stdout)["quantization"] == "mixed"


def test_a_model_given_to_compare_or_report_is_said_not_to_be_a_run(tmp_path: Path) -> None:
    model, run = _two_heads_profiled(tmp_path)
    # was: "heads.tflite: cannot read ('utf-8' codec can't decode byte 0x98 in position 36: invalid start byte)"
    assert_one_line_error(run_cli("compare", str(model), str(run)), 2,
                          f"{model}: not a run directory (a folder holding result.json)",
                          f"profile it (`edgeq profile --model {model}`)")
    (tmp_path / "runs" / "report.html").write_text("<html></html>")  # an earlier report, beside the runs
    assert_one_line_error(run_cli("report", str(run), str(tmp_path / "runs" / "report.html"), "-o", "-"), 2,
                          "report.html: not a run directory")
    assert run_cli("report", str(run / "result.json"), "-o", "-").returncode == 0  # a result file still is a run


def test_a_keras_model_or_saved_model_given_for_a_tflite_says_how_to_convert_it(tmp_path: Path) -> None:
    keras_file, saved = tmp_path / "mine.keras", tmp_path / "mine_saved"
    keras_file.write_bytes(b"PK\\x03\\x04 a zip, as .keras files are")
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"\\x08\\x01")
    # was: "not a TFLite model (no 'TFL3' FlatBuffer identifier at byte 4)" and "is a folder, not a .tflite file"
    assert_one_line_error(run_cli("profile", "--board", "local", "--model", str(keras_file), cwd=tmp_path), 2,
                          f"{keras_file}: a Keras model, not a TFLite one",
                          f"`edgeq quantize {keras_file} --mode fp32`")
    assert_one_line_error(run_cli("inspect", str(saved)), 2, f"{saved}: a TensorFlow SavedModel, not a TFLite model",
                          f"`edgeq quantize {saved} --mode fp32`")


def test_a_flex_op_is_named_for_what_it_is(tmp_path: Path) -> None:
    """What TensorFlow's converter writes with SELECT_TF_OPS for an op TFLite lacks (tf.math.cumprod)."""
    m = _Model()
    g = _Graph(m, "main")
    x, y = g.tensor("x", [1, 8], np.float32), g.tensor("y", [1, 8], np.float32)
    g.op("FlexCumprod", [x, g.const("axis", np.array(1, np.int32))], [y])
    m.add(g, {"x": x}, {"y": y}, "serving_default")
    model = tmp_path / "flex.tflite"
    model.write_bytes(bytes(m.bytes("first day: a Flex op")))
    shown = run_cli("inspect", str(model)).stdout
    # was: "custom op FlexCumprod is not built into the runtime", and a "metadata:" heading over nothing
    assert "Flex ops are TensorFlow ops the converter kept (SELECT_TF_OPS)" in shown and "metadata:" not in shown
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--backend", "tflite-cpu", cwd=tmp_path)
    assert_one_line_error(ran, 2, "FlexCumprod (TensorFlow's, kept by SELECT_TF_OPS: needs the Flex delegate)")


_TWO_SIGNATURE_SAVED_MODEL = """
import sys
import tensorflow as tf
class Codec(tf.Module):
    def __init__(self):
        self.w = tf.Variable(tf.ones([8, 4]))
    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    def encode(self, x):
        return {"code": tf.matmul(x, self.w)}
    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def decode(self, y):
        return {"recon": tf.matmul(y, tf.transpose(self.w))}
codec = Codec()
tf.saved_model.save(codec, sys.argv[1], signatures={"encode": codec.encode, "decode": codec.decode})
"""


@pytest.mark.slow
def test_a_saved_model_with_two_signatures_and_no_default_is_one_line(tmp_path: Path) -> None:
    saved = tmp_path / "codec"
    subprocess.run([sys.executable, "-c", _TWO_SIGNATURE_SAVED_MODEL, str(saved)], check=True, capture_output=True)
    ran = run_cli("quantize", str(saved), "--mode", "int8", "--calib", "random", "-o", str(tmp_path / "v"), "-q")
    # was: "quantize failed: KeyError: 'serving_default'"
    assert_one_line_error(ran, 2, "a SavedModel with 2 signatures (decode, encode) and no serving_default")


def test_the_input_and_the_signature_are_said_as_the_user_can_change_them(odd_models: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    model = _keras_style_dynamic_batch(tmp_path / "k.tflite")
    ran = run_cli("profile", "--board", "local", "--model", str(model), "--backend", "armnn:backends=CpuRef",
                  "--input-shape", "keras_tensor=3,4", cwd=tmp_path)
    # was "--input-shape changed serving_default_keras_tensor:0 [3, 4]"
    assert_one_line_error(ran, 2, "--input-shape changed keras_tensor [3, 4]")
    ran = run_cli("profile", "--board", "local", "--model", str(odd_models["two_signatures"]), "--backend",
                  "tflite-cpu", "--runs", "2", "-q", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "; profiled the first, " in ran.stderr and "(--signature NAME for another)" in ran.stderr  # was not said


def test_analyze_takes_the_folder_quantize_wrote(models: dict[str, Path], tmp_path: Path) -> None:
    variants = tmp_path / "variants"
    variants.mkdir()
    shutil.copy(models["float"], variants / "mine.tflite")
    shutil.copy(models["int8"], variants / "mine_quant.tflite")
    (variants / "notes.txt").write_text("not a model")
    ran = run_cli("analyze", str(variants), "--format", "csv", "-q")
    # was: "variants: a folder without saved_model.pb is not a SavedModel"
    assert ran.returncode == 0, ran.stderr
    assert [r.split(",")[:2] for r in ran.stdout.strip().splitlines()[1:]] == [["mine", "no quantization"], ["mine_quant", "int8"]]
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("analyze", str(tmp_path / "empty"), "-q"), 2,
                          "empty: a folder with no .tflite file and no saved_model.pb")


_KERAS3_SEQUENCE_MODEL = """
import sys
import numpy as np
import keras
inputs = keras.Input((None, 3))  # a sequence of any length
pooled = keras.layers.GlobalAveragePooling1D()(inputs)
keras.Model(inputs, keras.layers.Dense(4, bias_initializer="ones")(pooled)).save(sys.argv[1])
np.savez(sys.argv[2], x=np.random.default_rng(0).random((8, 5, 3), dtype=np.float32))
"""


@pytest.mark.slow
def test_a_keras_input_of_open_length_is_calibrated_on_the_users_lengths(tmp_path: Path) -> None:
    keras_file, data = tmp_path / "seq.keras", tmp_path / "calib.npz"
    subprocess.run([sys.executable, "-c", _KERAS3_SEQUENCE_MODEL, str(keras_file), str(data)], check=True,
                   capture_output=True)
    ran = run_cli("quantize", str(keras_file), "--mode", "int8", "--calib", str(data), "-o", str(tmp_path / "v"), "-q")
    assert ran.returncode == 0, ran.stderr  # was: "calib.npz: samples have shape (5, 3), the model takes (None, 3)"
    assert (tmp_path / "v" / "seq.int8.tflite").exists()
    ran = run_cli("quantize", str(keras_file), "--mode", "int8", "--calib", "random", "-o", str(tmp_path / "r"), "-q")
    # was: "quantize failed: TypeError: 'NoneType' object cannot be interpreted as an integer"
    assert_one_line_error(ran, 2, "the model takes (?, 3), with open dims; random calibration cannot choose them")


def test_analyze_without_data_feeds_an_int8_input_within_its_calibrated_range(tmp_path: Path) -> None:
    """TensorFlow's int8 model of images scaled to [0, 1]: its int8 input holds [0, 1] (scale 1/255, zero
    point -128), so generated inputs in [-1, 0) clip, and the figures blamed quantization for them."""
    for name, dtype in (("mine", np.float32), ("mine_int8", np.int8)):
        m = _Model()
        g = _Graph(m, "main")
        x = g.tensor("x", [1, 4], dtype, quant=([1 / 255], [-128]) if dtype == np.int8 else None)
        y = g.tensor("y", [1, 4], np.float32)
        if dtype == np.int8:  # an int8 dense layer computing y = x, then back to float
            w = g.tensor("w", [4, 4], np.int8, (np.eye(4) * 127).astype(np.int8), quant=([1 / 127], [0]))
            b = g.tensor("b", [4], np.int32, np.zeros(4, np.int32), quant=([1 / 255 / 127], [0]))
            q = g.tensor("q", [1, 4], np.int8, quant=([1 / 255], [-128]))
            g.op(_Op.FULLY_CONNECTED, [x, w, b], [q], (schema.BuiltinOptions.FullyConnectedOptions,
                                                       schema.FullyConnectedOptionsT()))
            g.op(_Op.DEQUANTIZE, [q], [y])
        else:
            g.op(_Op.ADD, [x, g.const("zero", np.zeros((1, 4), np.float32))], [y],
                 (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
        m.add(g, {"x": x}, {"y": y}, "serving_default")
        (tmp_path / f"{name}.tflite").write_bytes(bytes(m.bytes("first day: [0, 1] input")))
    ran = run_cli("analyze", str(tmp_path / "mine.tflite"), str(tmp_path / "mine_int8.tflite"), "--format", "json")
    assert ran.returncode == 0, ran.stderr
    row = json.loads(ran.stdout)["rows"][1]
    assert row["quantization"] == "int8" and row["max_abs_error"] <= 0.5 / 255 + 1e-6, row  # was about 1.0
