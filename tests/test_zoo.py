"""The zoo's .tflite files are real models: both runtimes run them and agree with numpy.

tflite_runtime runs in a child process: loading it next to ai_edge_litert in one
process can bind the wrong kernels, since both bundle their own TFLite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.tools import flatbuffer_utils

from edgeq import zoo
from edgeq.errors import ConfigError
from edgeq.zoo.calibrate import activation_ranges, calibration_batch, fold_batch_norm
from edgeq.zoo.graph import Graph
from edgeq.zoo.quantize import plan_activations
from edgeq.zoo.writer import serialize

MOBILENET_SMALL = {"alpha": 0.25, "resolution": 128}
# (zoo name, params, classes, bound on the int8 model's probability error).
# Seed 0 measures 0.03, 0.06 and 0.01; a chaotic or mis-scaled network gives 0.15 and more.
MODELS = [
    ("tiny-cnn", {}, 10, 0.1),
    ("tiny-cnn-fallback", {}, 10, 0.1),
    ("mobilenet_v1", MOBILENET_SMALL, 1001, 0.05),
]
CASES = [(name, dtype) for name, *_ in MODELS for dtype in zoo.DTYPES]
SAMPLES = 8

# Shared by the in-process and the child-process runs so both feed the same
# int8 values: quantize float inputs, dequantize int8 outputs.
RUNNER = '''
import numpy as np

def run(interpreter_class, path, batch):
    interpreter = interpreter_class(model_path=path)
    interpreter.allocate_tensors()
    (model_in,), (model_out,) = interpreter.get_input_details(), interpreter.get_output_details()
    rows = []
    for x in batch:
        x = x[None]
        if model_in["dtype"] == np.int8:
            scale, zero_point = model_in["quantization"]
            x = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
        interpreter.set_tensor(model_in["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(model_out["index"])
        if model_out["dtype"] == np.int8:
            scale, zero_point = model_out["quantization"]
            y = (y.astype(np.float32) - zero_point) * scale
        rows.append(y[0])
    return np.stack(rows)
'''
_runner: dict = {}
exec(RUNNER, _runner)

CHILD = RUNNER + '''
import json, sys
from tflite_runtime.interpreter import Interpreter
batches = np.load(sys.argv[1])
paths = json.loads(sys.argv[2])
np.savez(sys.argv[3], **{key: run(Interpreter, path, batches[key]) for key, path in paths.items()})
'''


def run_litert(path: Path, batch: np.ndarray) -> np.ndarray:
    return _runner["run"](Interpreter, str(path), batch)


def key(name: str, dtype: str) -> str:
    return f"{name}-{dtype}"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("zoo")
    return {key(name, dtype): zoo.build(name, folder / f"{key(name, dtype)}.tflite", dtype=dtype, **params)
            for name, params, *_ in MODELS for dtype in zoo.DTYPES}


@pytest.fixture(scope="module")
def references() -> dict[str, Graph]:
    return {name: zoo.float_graph(name, **params) for name, params, *_ in MODELS}


@pytest.fixture(scope="module")
def batches(references: dict[str, Graph]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    return {name: rng.uniform(-1, 1, (SAMPLES, *g.shape(g.input)[1:])).astype(np.float32)
            for name, g in references.items()}


@pytest.fixture(scope="module")
def litert_outputs(built: dict[str, Path], batches: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key(name, dtype): run_litert(built[key(name, dtype)], batches[name]) for name, dtype in CASES}


@pytest.mark.parametrize("name, dtype", CASES)
def test_is_a_tflite_flatbuffer(built: dict[str, Path], name: str, dtype: str) -> None:
    assert built[key(name, dtype)].read_bytes()[4:8] == b"TFL3"


@pytest.mark.parametrize("name, classes", [(name, classes) for name, _, classes, _ in MODELS])
@pytest.mark.parametrize("dtype", zoo.DTYPES)
def test_litert_outputs_probabilities(litert_outputs: dict[str, np.ndarray], name: str,
                                      classes: int, dtype: str) -> None:
    probabilities = litert_outputs[key(name, dtype)]
    assert probabilities.shape == (SAMPLES, classes)
    # int8 softmax steps by 1/256: the many tiny probabilities of 1001 classes round to 0.
    low = 0.999 if dtype == "float32" else 0.85
    assert np.all((probabilities.sum(axis=1) > low) & (probabilities.sum(axis=1) < 1.01))


def test_tflite_runtime_agrees_with_litert(built: dict[str, Path], batches: dict[str, np.ndarray],
                                           litert_outputs: dict[str, np.ndarray], tmp_path: Path) -> None:
    np.savez(tmp_path / "in.npz", **{key(n, d): batches[n] for n, d in CASES})
    paths = {key(n, d): str(built[key(n, d)]) for n, d in CASES}
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "in.npz"), json.dumps(paths),
                    str(tmp_path / "out.npz")], check=True, capture_output=True, timeout=120)
    outputs = np.load(tmp_path / "out.npz")
    for name, dtype in CASES:
        expected, actual = litert_outputs[key(name, dtype)], outputs[key(name, dtype)]
        # The runtimes' int8 kernels round differently and MobileNet compounds it
        # over 28 layers: seeds 0-3 measured up to 5 steps of 1/256 apart.
        tolerance = 1e-5 if dtype == "float32" else 8 / 256
        np.testing.assert_allclose(actual, expected, atol=tolerance, err_msg=key(name, dtype))
        np.testing.assert_array_equal(actual.argmax(axis=1), expected.argmax(axis=1))


@pytest.mark.parametrize("name", [name for name, *_ in MODELS])
def test_float_model_matches_numpy_reference(litert_outputs: dict[str, np.ndarray],
                                             references: dict[str, Graph],
                                             batches: dict[str, np.ndarray], name: str) -> None:
    expected = references[name].predict(batches[name])
    np.testing.assert_allclose(litert_outputs[key(name, "float32")], expected, atol=1e-4)


@pytest.mark.parametrize("name, max_error", [(name, error) for name, _, _, error in MODELS])
def test_int8_model_tracks_float_model(litert_outputs: dict[str, np.ndarray], name: str,
                                       max_error: float) -> None:
    exact, quantized = litert_outputs[key(name, "float32")], litert_outputs[key(name, "int8")]
    assert np.sum(exact.argmax(axis=1) == quantized.argmax(axis=1)) >= 6
    assert np.abs(exact - quantized).max() < max_error


def test_int8_model_is_post_training_quantized(built: dict[str, Path]) -> None:
    model = flatbuffer_utils.read_model(str(built[key("mobilenet_v1", "int8")]))
    subgraph = model.subgraphs[0]
    tensors = subgraph.tensors
    for op in subgraph.operators:
        code = model.operatorCodes[op.opcodeIndex].builtinCode
        if code in (schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D):
            source, weights, bias = (tensors[i] for i in op.inputs)
            axis = 0 if code == schema.BuiltinOperator.CONV_2D else 3
            assert weights.type == schema.TensorType.INT8 and bias.type == schema.TensorType.INT32
            assert weights.quantization.quantizedDimension == axis
            assert len(weights.quantization.scale) == weights.shape[axis]
            assert not np.any(weights.quantization.zeroPoint)
            np.testing.assert_allclose(
                bias.quantization.scale,
                source.quantization.scale[0] * np.asarray(weights.quantization.scale), rtol=1e-6)
        if code == schema.BuiltinOperator.SOFTMAX:
            output = tensors[op.outputs[0]].quantization
            assert (output.scale[0], output.zeroPoint[0]) == (1 / 256, -128)


def test_int8_model_can_have_float_ends(tmp_path: Path, batches: dict[str, np.ndarray],
                                        litert_outputs: dict[str, np.ndarray]) -> None:
    path = zoo.build("tiny-cnn", tmp_path / "tiny.tflite", dtype="int8", io="float")
    interpreter = Interpreter(model_path=str(path))
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert interpreter.get_output_details()[0]["dtype"] == np.float32
    np.testing.assert_allclose(run_litert(path, batches["tiny-cnn"]),
                               litert_outputs[key("tiny-cnn", "int8")], atol=1.5 / 256)


@pytest.mark.parametrize("name, dtype", CASES)
def test_file_follows_converter_conventions(built: dict[str, Path], name: str, dtype: str) -> None:
    data = built[key(name, dtype)].read_bytes()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    assert model.version == 3 and model.description.startswith(b"edgeq zoo")
    assert model.buffers[0].data is None
    assert all(code.deprecatedBuiltinCode == min(code.builtinCode, 127) for code in model.operatorCodes)
    assert Interpreter(model_path=str(built[key(name, dtype)])).get_signature_list() == {
        zoo.SIGNATURE_KEY: {"inputs": ["input"], "outputs": ["output"]}}
    assert all(offset % 16 == 0 for offset in buffer_offsets(data))


def buffer_offsets(data: bytes) -> list[int]:
    """Where each constant buffer's bytes start in the file."""
    start = np.frombuffer(data, np.uint8).ctypes.data
    model = schema.Model.GetRootAs(data, 0)
    buffers = (model.Buffers(i) for i in range(model.BuffersLength()))
    return [buffer.DataAsNumpy().ctypes.data - start for buffer in buffers if buffer.DataLength()]


def test_fallback_model_has_the_fallback_op(built: dict[str, Path]) -> None:
    def op_names(name: str) -> set[str]:
        model = flatbuffer_utils.read_model(str(built[key(name, "float32")]))
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        return {names[code.builtinCode] for code in model.operatorCodes}

    assert zoo.FALLBACK_OP in op_names("tiny-cnn-fallback")
    assert zoo.FALLBACK_OP not in op_names("tiny-cnn")


def test_mobilenet_v1_sizes(built: dict[str, Path], tmp_path: Path) -> None:
    small_float = built[key("mobilenet_v1", "float32")].stat().st_size
    small_int8 = built[key("mobilenet_v1", "int8")].stat().st_size
    assert 1.7e6 < small_float < 1.95e6
    assert small_int8 < 0.33 * small_float
    large = zoo.build("mobilenet_v1", tmp_path / "large.tflite", alpha=1.0, resolution=224)
    assert 16.5e6 < large.stat().st_size < 17.5e6  # 4.2 M float parameters


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    def build(seed: int, out: str) -> bytes:
        return zoo.build("tiny-cnn", tmp_path / out, dtype="int8", seed=seed).read_bytes()

    assert build(0, "a.tflite") == build(0, "b.tflite")
    assert build(0, "a.tflite") != build(1, "c.tflite")


@pytest.mark.parametrize("dtype", zoo.DTYPES)
def test_add_runs_like_numpy(tmp_path: Path, dtype: str) -> None:
    """No zoo model has a residual connection yet; check ADD on a graph of its own."""
    graph = Graph((1, 8, 8, 4), np.random.default_rng(0))
    branch = graph.conv2d(graph.input, 4, kernel=3, activation="relu")
    graph.add(graph.input, branch, activation="relu6")
    batch = calibration_batch(graph.shape(graph.input), seed=0)
    fold_batch_norm(graph, batch)
    plan = plan_activations(graph, activation_ranges(graph, batch)) if dtype == "int8" else None
    path = tmp_path / "add.tflite"
    path.write_bytes(serialize(graph, "add", plan))
    tolerance = 1e-5 if dtype == "float32" else 0.1
    np.testing.assert_allclose(run_litert(path, batch), graph.predict(batch), atol=tolerance)


@pytest.mark.parametrize("call, message", [
    (dict(name="resnet50"), "unknown zoo model 'resnet50'. Choose from: tiny-cnn, tiny-cnn-fallback, mobilenet_v1"),
    (dict(name="tiny-cnn", dtype="float16"), "unknown dtype 'float16'. Choose from: float32, int8"),
    (dict(name="tiny-cnn", io="uint8"), "unknown io 'uint8'. Choose from: float, int8"),
    (dict(name="mobilenet_v1", alpha=0.3), "alpha 0.3 is not supported. Choose from: 0.25, 0.5, 0.75, 1.0"),
    (dict(name="tiny-cnn", alpha=0.5), "zoo model 'tiny-cnn' has no parameter alpha"),
])
def test_bad_requests_are_config_errors(tmp_path: Path, call: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        zoo.build(out=tmp_path / "x.tflite", **call)
