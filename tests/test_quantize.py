"""edgeq.quantize: every mode, sidecars, calibration rules, the analysis table and compatibility warnings.

The fast tests quantize zoo flatbuffers with ai-edge-quantizer (no TensorFlow). The slow
ones build Keras zoo models and quantize them in one TensorFlow child each, because
importing TensorFlow alone costs about 5 s; this process never imports TensorFlow.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgeq import zoo
from edgeq.errors import ConfigError
from edgeq.quantize import CalibrationWarning, CompatWarning, analyze, quantize
from edgeq.quantize.sidecar import SCHEMA

from .conftest import PROGRESS_LINE, run_cli

TFLITE_214 = ["tflite-runtime==2.14"]
ARMNN_2008 = ["pyarmnn==20.08"]
PUBLISHED_FLOAT_KB = {(0.25, 128): 1840, (1.0, 224): 16506}


@pytest.fixture(scope="module")
def tiny_float(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo.build("tiny-cnn", tmp_path_factory.mktemp("tiny") / "tiny.tflite")


def _quantize(model: Path, modes: list[str], out: Path, **kwargs: object) -> tuple[list, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = quantize(model, modes, kwargs.pop("calib", "random"), out, **kwargs)
    return made, [str(w.message) for w in caught if issubclass(w.category, CompatWarning)]


def test_the_live_line_says_which_mode_the_child_is_making(tiny_float: Path, tmp_path: Path) -> None:
    """Without a terminal, each mode the TensorFlow child starts is a timestamped line, in order."""
    ran = run_cli("quantize", str(tiny_float), "--mode", "dynamic", "--mode", "int8", "--calib", "random",
                  "--out", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    steps = [line.split(": ", 1)[1] for line in ran.stderr.splitlines()
             if PROGRESS_LINE.match(line) and "making " in line]
    assert steps == ["making dynamic (1 of 2, ai-edge-quantizer)", "making int8 (2 of 2, ai-edge-quantizer)"], ran.stderr
    assert len(list((tmp_path / "out").glob("tiny.*.tflite"))) == 2


def test_zoo_training_says_its_epochs_as_it_goes(tmp_path: Path) -> None:
    """`edgeq zoo build digits-cnn` trains in a TensorFlow child; the log shows its epochs and the write."""
    ran = run_cli("zoo", "build", "digits-cnn", "-o", str(tmp_path / "digits.keras"))
    assert ran.returncode == 0, ran.stderr
    steps = [line.split(": ", 1)[1] for line in ran.stderr.splitlines() if PROGRESS_LINE.match(line)]
    epochs = [s for s in steps if s.startswith("training on ")]
    assert epochs[0] == "training on 1437 digits: epoch 1 of 30" and epochs[-1].endswith("epoch 30 of 30"), steps
    assert len(epochs) == 6, steps  # every fifth of the training, not every epoch
    assert "writing digits.keras and its train/eval data" in steps
    assert (tmp_path / "digits.eval.npz").is_file()


def test_unknown_mode_lists_the_modes(tiny_float: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Choose from: fp32, fp16, dynamic, int8"):
        quantize(tiny_float, ["int3"], None, tmp_path)


def test_missing_calibration_is_one_line(tiny_float: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        quantize(tiny_float, ["int8"], None, tmp_path)
    assert "needs calibration data" in str(error.value) and "\n" not in str(error.value)


def test_random_calibration_warns_and_sidecar_records_it(tiny_float: Path, tmp_path: Path) -> None:
    with pytest.warns(CalibrationWarning, match="not meaningful"):
        (variant,) = quantize(tiny_float, ["int8"], "random", tmp_path)
    record = json.loads(variant.sidecar.read_text())
    assert record["schema"] == SCHEMA and record["mode"] == "int8" and record["engine"] == "ai-edge-quantizer"
    assert record["size_bytes"] == variant.path.stat().st_size
    assert record["float_size_bytes"] == tiny_float.stat().st_size
    assert len(record["calib_sha256"]) == 64 and len(record["source_sha256"]) == 64


def test_fp16_from_a_float_tflite_stores_float16_weights_and_keeps_the_outputs(tiny_float: Path, tmp_path: Path) -> None:
    """fp16 of a float .tflite (ai-edge-quantizer, weight-only float casting): float16 weights with DEQUANTIZE,
    what TensorFlow's fp16 post-training quantization makes, typed fp16 by its tensors (was: no engine)."""
    from edgeq.model.reader import inspect_model
    from edgeq.quantize.analysis import run_tflite

    (variant,) = quantize(tiny_float, ["fp16"], None, tmp_path)
    made = inspect_model(variant.path)
    assert made.quantization == "fp16" and "DEQUANTIZE" in made.op_names
    assert json.loads(variant.sidecar.read_text())["engine"] == "ai-edge-quantizer"
    assert variant.path.stat().st_size < tiny_float.stat().st_size
    x = np.random.default_rng(0).uniform(-1, 1, (8, *inspect_model(tiny_float).inputs[0].shape[1:])).astype(np.float32)
    np.testing.assert_allclose(run_tflite(variant.path, x), run_tflite(tiny_float, x), rtol=0, atol=1e-2)


def test_no_tensorflow_in_the_host_process(tiny_float: Path, tmp_path: Path) -> None:
    quantize(tiny_float, ["dynamic"], None, tmp_path)
    assert "tensorflow" not in sys.modules


def test_aiq_dynamic_per_channel_dense_warns_for_tflite_runtime(tiny_float: Path, tmp_path: Path) -> None:
    _, warned = _quantize(tiny_float, ["dynamic"], tmp_path, calib=None, targets=TFLITE_214)
    assert any("per-channel weights loads but gives wrong answers" in w for w in warned)
    _, warned = _quantize(tiny_float, ["dynamic"], tmp_path / "fixed", calib=None, targets=TFLITE_214,
                          per_tensor_dense=True)
    assert warned == []


def test_int4_weights_warn_for_tflite_runtime(tiny_float: Path, tmp_path: Path) -> None:
    _, warned = _quantize(tiny_float, ["int4-weights", "dynamic-int4"], tmp_path, calib=None, targets=TFLITE_214)
    assert sum("int4 weights cannot be loaded" in w for w in warned) == 2


def test_int8_per_channel_dense_warns_for_armnn(tiny_float: Path, tmp_path: Path) -> None:
    _, warned = _quantize(tiny_float, ["int8"], tmp_path, targets=ARMNN_2008)
    assert any("int8 FullyConnected with per-channel weights" in w for w in warned)


@pytest.mark.parametrize("mode, why", [("dynamic", "hybrid layers"), ("int16x8", "int64 biases")])
def test_variants_armnn_2008_refuses_warn(mode: str, why: str, tiny_float: Path, tmp_path: Path) -> None:
    """Both were refused for real by pyarmnn's parser or optimizer on this host (CpuRef)."""
    _, warned = _quantize(tiny_float, [mode], tmp_path, targets=ARMNN_2008)
    assert any(why in w for w in warned), warned
    _, warned = _quantize(tiny_float, [mode], tmp_path / "again", targets=TFLITE_214)
    assert not any(why in w for w in warned)


def test_unknown_target_lists_runtimes(tiny_float: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Choose from: tflite-runtime, pyarmnn"):
        quantize(tiny_float, ["fp32"], None, tmp_path, targets=["onnxruntime==1.0"])


@pytest.mark.slow
@pytest.mark.parametrize("alpha, resolution", list(PUBLISHED_FLOAT_KB))
def test_mobilenet_v1_sizes_and_mean_warning(tmp_path: Path, alpha: float, resolution: int) -> None:
    """One child builds, one child quantizes: float within 1% of the published size, int8 and int4 small."""
    published_kb = PUBLISHED_FLOAT_KB[(alpha, resolution)]
    model = zoo.build_keras("keras-mobilenet_v1", tmp_path / "mnv1.keras", alpha=alpha, resolution=resolution)["model"]
    made, warned = _quantize(model, ["fp32", "int8", "int4-weights"], tmp_path / "v", targets=ARMNN_2008)
    size = {v.mode: v.size_bytes for v in made}
    assert abs(size["fp32"] / 1024 / published_kb - 1) < 0.01
    assert size["int8"] <= 0.33 * size["fp32"]
    assert size["int4-weights"] <= 0.2 * size["fp32"]
    assert any("int8 MEAN" in w for w in warned)


@pytest.mark.slow
def test_digits_int8_and_qat_keep_accuracy(tmp_path: Path) -> None:
    files = zoo.build_keras("digits-cnn", tmp_path / "digits.keras")
    made, warned = _quantize(files["model"], ["fp32", "dynamic", "int8", "qat"], tmp_path / "v",
                             calib=str(files["train"]), train=files["train"], targets=TFLITE_214 + ARMNN_2008)
    assert any("FULLY_CONNECTED version 12" in w for w in warned)
    table = analyze([files["model"], *(v.path for v in made)], files["eval"])
    accuracy = {row["quantization"]: row["accuracy"] for row in table.rows}
    assert accuracy["original (keras)"] > 0.9
    assert accuracy["no quantization"] == accuracy["original (keras)"]
    assert accuracy["int8"] >= accuracy["no quantization"] - 0.01
    assert accuracy["qat"] >= accuracy["no quantization"] - 0.01
    assert json.loads(table.to_json())["schema"] == "edgeq.analysis/1"
    assert table.to_csv().splitlines()[0].startswith("model,quantization,size_kb")
    assert "tensorflow" not in sys.modules


_ZERO_BIAS_MODEL = """
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import tf_keras as keras
inputs = keras.Input((8,), batch_size=1)
hidden = keras.layers.Dense(16, activation="relu", bias_initializer="zeros")(inputs)
outputs = keras.layers.Dense(4, bias_initializer="zeros")(hidden)
model = keras.Model(inputs, outputs)
model.layers[1].set_weights([np.random.default_rng(0).normal(size=(8, 16)).astype("float32"), np.zeros(16, "float32")])
model.save(sys.argv[1])
"""


@pytest.mark.slow
def test_a_dropped_zero_bias_warns_for_armnn(tmp_path: Path) -> None:
    """An untrained Dense layer keeps its all-zero bias; the converter drops it from the graph."""
    import subprocess

    keras_file = tmp_path / "zero_bias.keras"
    subprocess.run([sys.executable, "-c", _ZERO_BIAS_MODEL, str(keras_file)], check=True, capture_output=True)
    made, warned = _quantize(keras_file, ["fp32"], tmp_path / "v", targets=ARMNN_2008)
    assert made[0].path.exists()
    assert any("has no bias" in w and "ArmNN fails on the missing input" in w for w in warned), warned
    _, warned = _quantize(keras_file, ["fp32"], tmp_path / "v2", targets=TFLITE_214)
    assert not any("has no bias" in w for w in warned)  # only ArmNN trips over it


_SAVED_MODEL = """
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf
import tf_keras as keras
keras.utils.set_random_seed(0)
inputs = keras.Input((8, 8, 3), batch_size=1)
hidden = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
hidden = keras.layers.GlobalAveragePooling2D()(hidden)
hidden = keras.layers.Dense(512, activation="relu")(hidden)  # enough weights for int8 to show
tf.saved_model.save(keras.Model(inputs, keras.layers.Dense(3)(hidden)), sys.argv[1])
"""


@pytest.mark.slow
def test_savedmodel_with_image_calibration_and_int8_io(tmp_path: Path) -> None:
    """A SavedModel folder, calibrated on a folder of PNGs of another size, with int8 inputs and outputs."""
    import subprocess

    import numpy as np
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    from edgeq.quantize import calibration

    saved = tmp_path / "small_saved"
    subprocess.run([sys.executable, "-c", _SAVED_MODEL, str(saved)], check=True, capture_output=True)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(5)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (11, 13, 3), dtype=np.uint8)).save(images / f"{i:02}.png")
    (images / "notes.txt").write_text("not an image: skipped")

    made, _ = _quantize(saved, ["fp32", "int8"], tmp_path / "v", calib=str(images), io="int8")
    by_mode = {v.mode: v for v in made}
    assert by_mode["int8"].io == "int8" and by_mode["fp32"].io == "float"
    details = Interpreter(model_path=str(by_mode["int8"].path))
    assert details.get_input_details()[0]["dtype"] == np.int8
    assert details.get_output_details()[0]["dtype"] == np.int8
    fed = calibration.load(str(images), (1, 8, 8, 3))
    assert fed.shape == (12, 8, 8, 3) and 0.0 <= fed.min() and fed.max() <= 1.0
    record = json.loads(by_mode["int8"].sidecar.read_text())
    assert record["calib_sha256"] == calibration.digest(fed)  # calibrated on exactly these images
    assert record["source_sha256"] == json.loads(by_mode["fp32"].sidecar.read_text())["source_sha256"]

    eval_file = tmp_path / "eval.npz"
    np.savez(eval_file, x=fed)
    table = analyze([saved, by_mode["fp32"].path, by_mode["int8"].path], eval_file)
    rows = {row["quantization"]: row for row in table.rows}
    assert set(rows) == {"original (savedmodel)", "no quantization", "int8"}
    assert rows["no quantization"]["sqnr_db"] > 60  # the float conversion keeps the SavedModel's numbers
    assert rows["int8"]["sqnr_db"] > 15, rows["int8"]
    assert rows["int8"]["compression"] > 2.5, rows["int8"]
    assert "tensorflow" not in sys.modules


def test_armnn_rules_follow_the_measured_version() -> None:
    """pyarmnn 20.08 (Debian 12, reports 22.0.0) and 23.08 (Debian 13, reports 33.0.0), as measured on
    the emulated boards: 23.08 lifts PRELU, fp16 weights and hybrid layers, keeps int16x8 and per-channel FC.
    quantize's targets are judged by the same rule tables `edgeq inspect` prints (edgeq/model/rules)."""
    from edgeq.model.rules import armnn_20_08, armnn_23_08
    from edgeq.quantize import compat

    def table(target: str):
        ((_, found),) = compat.rules_for([target])
        return found

    assert table("pyarmnn==22.0.0") is table("pyarmnn==20.08") is table("pyarmnn") is armnn_20_08.TABLE
    assert table("pyarmnn==33.0.0") is table("pyarmnn==23.08") is table("pyarmnn==25.0.0") is armnn_23_08.TABLE
    assert compat.rules_for(["pyarmnn==34.0.0", "tflite-runtime==2.16"]) == []  # newer than any table: no claim
    old = {rule.name for rule in armnn_20_08.TABLE.rules}
    new = {rule.name for rule in armnn_23_08.TABLE.rules}
    assert {"prelu", "dequantized-weights", "hybrid-layers", "int64", "int8-fc-per-channel"} <= old
    assert new == {"custom-op", "int8-fc-per-channel", "int16x8"}
    facts = {"runtimes": {}, "pyarmnn": {"installed": True, "version": "33.0.0", "armnn_version": "33.0.0"}}
    assert compat.targets_from_facts(facts) == ["pyarmnn==33.0.0"]


def test_every_rule_cites_what_it_was_learnt_from() -> None:
    from edgeq.model.rules import tables

    for rule_table in tables():
        for rule in rule_table.rules:
            assert rule.says and len(rule.learnt_from) > 20, (rule_table.key, rule.name)
