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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq.errors import ModelError

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

    @property
    def stem(self) -> str:
        return self.path.stem


def _tensor_spec(tensor: object, schema: object) -> TensorSpec:
    kind = TENSOR_TYPES.get(tensor.type)
    if kind is None:
        raise ModelError(f"tensor {tensor.name!r} has a type edgeq does not handle ({tensor.type})")
    quant = tensor.quantization
    scale = zero = None
    if quant is not None and quant.scale is not None and len(quant.scale) == 1:
        scale, zero = float(quant.scale[0]), int(quant.zeroPoint[0])
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else []))
    return TensorSpec(name, shape, np.dtype(kind).name, scale, zero)


def _op_names(model: object, schema: object) -> tuple[str, ...]:
    by_code = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = []
    for code in model.operatorCodes or []:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        names.append(code.customCode.decode() if code.customCode else by_code.get(builtin, str(builtin)))
    return tuple(names)


def inspect_model(path: str | Path) -> ModelInfo:
    """Parse and check `path`; raise ModelError with a one-line reason when it is not a usable model."""
    path = Path(path)
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
    digest = hashlib.sha256(data).hexdigest()
    known = _PARSED.get(digest)
    if known is not None:
        return dataclasses.replace(known, path=path)
    info = _parse(path, data, digest)
    with _PARSED_LOCK:  # a fleet inspects from several threads
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.pop(next(iter(_PARSED)), None)
        _PARSED[digest] = info
    return info


def _parse(path: Path, data: bytes, digest: str) -> ModelInfo:
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
        if not model.subgraphs:
            raise ModelError(f"{path}: damaged TFLite model: it has no subgraph")
        graph = model.subgraphs[0]
        tensors = graph.tensors or []
        for buffer in model.buffers or []:
            # Buffers of models over 2 GB live after the FlatBuffer, addressed by offset.
            if buffer.offset and buffer.offset + buffer.size > len(data):
                raise ModelError(f"{path}: truncated TFLite model: a weight buffer ends past the end of the file")
        inputs = tuple(_tensor_spec(tensors[i], schema) for i in graph.inputs)
        outputs = tuple(_tensor_spec(tensors[i], schema) for i in graph.outputs)
        for op in graph.operators or []:
            if op.opcodeIndex >= len(model.operatorCodes or []):
                raise ModelError(f"{path}: damaged TFLite model: an operator refers to a missing op code")
    except ModelError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError, AttributeError):
        raise ModelError(f"{path}: truncated or damaged TFLite model (its FlatBuffer tables point past the data)") from None
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
    )
