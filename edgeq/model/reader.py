"""Checking a .tflite file on the host before anything runs, and reading its signature.

A TFLite model is a FlatBuffer with the file identifier "TFL3" at bytes 4..8.
Reading every table through the schema that ai_edge_litert ships touches every
offset, so a truncated or damaged file fails here, with a message, instead of
crashing a runtime on a board.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeq.errors import ModelError

if TYPE_CHECKING:
    from edgeq.model.card import ModelCard

IDENTIFIER = b"TFL3"
_PARSED: dict[str, ModelInfo] = {}
"""sha256 -> what parsing those bytes found. Unpacking every table takes ~15 ms for MobileNet
0.25 (more for bigger models) and a fleet or a recipe inspects the same model again and again."""
_PARSED_LIMIT = 64
_PARSED_LOCK = threading.Lock()
# TensorType enum values of the TFLite schema, as numpy dtypes.
TENSOR_TYPES = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
    7: np.int16, 9: np.int8, 10: np.float64, 12: np.uint64, 15: np.uint32, 16: np.uint16,
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None
    dynamic_dims: tuple[int, ...] = ()
    """Axes the model's shape signature leaves open (-1); `shape` holds their defaults."""


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    operators: int
    op_names: tuple[str, ...]
    quantized: bool
    """Some tensor holds integers with a quantization scale (int8, int16x8, dynamic range...)."""
    quantization: str = "fp32"
    """The quantization type its tensors show (model/storage.py): fp32, fp16, dynamic, int8, int16x8, mixed..."""
    card: ModelCard | None = field(default=None, compare=False, repr=False)
    signature: str | None = None
    """Set when a run takes a signature other than the main subgraph's ends (`--signature`)."""

    @property
    def stem(self) -> str:
        return self.path.stem


def _tensor_spec(tensor: object, schema: object) -> TensorSpec:
    kind = TENSOR_TYPES.get(tensor.type)
    if tensor.type == 5:  # STRING
        raise ModelError(f"tensor {tensor.name.decode(errors='replace')!r} holds strings: edgeq feeds and checks numeric "
                         "tensors only (tokenize on the host and give the model token ids)")
    if kind is None:
        raise ModelError(f"tensor {tensor.name!r} has a type edgeq does not handle ({tensor.type})")
    quant = tensor.quantization
    scale = zero = None
    if quant is not None and quant.scale is not None and len(quant.scale) == 1:
        scale, zero = float(quant.scale[0]), int(quant.zeroPoint[0])
    name = tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else []))
    signature = tensor.shapeSignature if tensor.shapeSignature is not None else []
    dynamic = tuple(i for i, d in enumerate(signature) if d < 0 and len(signature) == len(shape))
    dynamic += tuple(i for i, d in enumerate(shape) if d < 1 and i not in dynamic)
    return TensorSpec(name, shape, np.dtype(kind).name, scale, zero, dynamic)


def _op_names(model: object, schema: object) -> tuple[str, ...]:
    by_code = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = []
    for code in model.operatorCodes or []:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        names.append(code.customCode.decode("utf-8", "replace") if code.customCode else by_code.get(builtin, str(builtin)))
    return tuple(names)


CONVERT_FIRST = "; make a .tflite from it with `edgeq quantize {path} --mode fp32` (needs edgeq[quantize])"


def _read(path: Path) -> bytes:
    if path.suffix in (".keras", ".h5") and path.is_file():
        raise ModelError(f"{path}: a Keras model, not a TFLite one" + CONVERT_FIRST.format(path=path))
    if (path / "saved_model.pb").is_file():
        raise ModelError(f"{path}: a TensorFlow SavedModel, not a TFLite model" + CONVERT_FIRST.format(path=path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, not a .tflite file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise ModelError(f"{path}: not a TFLite model (no 'TFL3' FlatBuffer identifier at byte 4)")
    return data


def inspect_model(path: str | Path) -> ModelInfo:
    """Parse and check `path`; raise ModelError with a one-line reason when it is not a usable model."""
    path = Path(path)
    data = _read(path)
    digest = hashlib.sha256(data).hexdigest()
    known = _PARSED.get(digest)
    if known is not None:
        return dataclasses.replace(known, path=path, card=dataclasses.replace(known.card, path=path))
    info = _parse(path, data, digest)
    with _PARSED_LOCK:  # a fleet inspects from several threads
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.pop(next(iter(_PARSED)), None)
        _PARSED[digest] = info
    return info


def read_card(path: str | Path) -> ModelCard:
    """The card of any readable model, even one edgeq cannot run (string inputs, say): `edgeq inspect`."""
    path = Path(path)
    data = _read(path)
    return _card(path, data, _unpack(path, data))


_DAMAGED = (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError, AttributeError, KeyError,
            OverflowError, RecursionError, MemoryError)


def _unpack(path: Path, data: bytes) -> object:
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except _DAMAGED:
        raise ModelError(f"{path}: truncated or damaged TFLite model (its FlatBuffer tables point past the data)") from None
    if not model.subgraphs:
        raise ModelError(f"{path}: damaged TFLite model: it has no subgraph")
    for buffer in model.buffers or []:
        # Buffers of models over 2 GB live after the FlatBuffer, addressed by offset.
        if buffer.offset and buffer.offset + buffer.size > len(data):
            raise ModelError(f"{path}: truncated TFLite model: a weight buffer ends past the end of the file")
    codes = len(model.operatorCodes or [])
    for graph in model.subgraphs:
        count = len(graph.tensors or [])
        for op in graph.operators or []:
            if not 0 <= op.opcodeIndex < codes:
                raise ModelError(f"{path}: damaged TFLite model: an operator refers to a missing op code")
            for index in [*(op.inputs if op.inputs is not None else []), *(op.outputs if op.outputs is not None else [])]:
                if index >= count or index < -1:
                    raise ModelError(f"{path}: damaged TFLite model: an operator refers to tensor {index}, "
                                     f"but its subgraph has {count}")
        for index in [*(graph.inputs if graph.inputs is not None else []),
                      *(graph.outputs if graph.outputs is not None else [])]:
            if not 0 <= index < count:
                raise ModelError(f"{path}: damaged TFLite model: a subgraph input/output is tensor {index}, "
                                 f"but the subgraph has {count}")
        for tensor in graph.tensors or []:
            if not 0 <= tensor.buffer < max(len(model.buffers or []), 1):
                raise ModelError(f"{path}: damaged TFLite model: a tensor refers to missing buffer {tensor.buffer}")
    for sig in model.signatureDefs or []:
        if not 0 <= sig.subgraphIndex < len(model.subgraphs):
            raise ModelError(f"{path}: damaged TFLite model: signature refers to missing subgraph {sig.subgraphIndex}")
        count = len(model.subgraphs[sig.subgraphIndex].tensors or [])
        for item in [*(sig.inputs or []), *(sig.outputs or [])]:
            if not 0 <= item.tensorIndex < count:
                raise ModelError(f"{path}: damaged TFLite model: signature refers to missing tensor {item.tensorIndex}")
    return model


def _card(path: Path, data: bytes, model: object) -> ModelCard:
    from ai_edge_litert import schema_py_generated as schema

    from edgeq.model.card import build_card

    try:
        return build_card(path, data, model, _op_names(model, schema))
    except _DAMAGED:
        raise ModelError(f"{path}: damaged TFLite model (its tables do not fit together)") from None


def _parse(path: Path, data: bytes, digest: str) -> ModelInfo:
    from ai_edge_litert import schema_py_generated as schema

    model = _unpack(path, data)
    card = _card(path, data, model)
    graph = model.subgraphs[0]
    tensors = graph.tensors or []
    try:
        inputs = tuple(_tensor_spec(tensors[i], schema) for i in graph.inputs)
        outputs = tuple(_tensor_spec(tensors[i], schema) for i in graph.outputs)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    if not inputs:
        raise ModelError(f"{path}: the model has no inputs")
    return ModelInfo(
        path=path,
        sha256=digest,
        size_bytes=len(data),
        inputs=inputs,
        outputs=outputs,
        operators=len(graph.operators or []),
        op_names=_op_names(model, schema),
        quantized=any(t.quantization is not None and t.quantization.scale is not None
                      and len(t.quantization.scale) > 0 and TENSOR_TYPES.get(t.type) in (np.int8, np.uint8, np.int16)
                      for t in tensors),
        quantization=card.quantization,
        card=card,
    )
