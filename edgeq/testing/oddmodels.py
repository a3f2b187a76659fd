"""A corpus of odd .tflite models, one per property users' models have and edgeq's zoo does not.

Written with the schema's object API (no TensorFlow, a few milliseconds each), shaped
as converters write them: fp16 weights reaching a convolution through DEQUANTIZE (what
TensorFlow's fp16 post-training quantization makes), a custom op, PRELU, two
signatures, inputs and outputs of eight dtypes, a dynamic batch, a WHILE loop, TFLite
metadata with normalization and packed labels, and weights stored after the
flatbuffer (the converter's layout for models over 2 GB). Tests build them per
session; nothing is committed. `EXPECTED` says what edgeq should do with each.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Callable

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

_T = schema.TensorType
_Op = schema.BuiltinOperator
_TYPES = {np.dtype(np.float32): _T.FLOAT32, np.dtype(np.float16): _T.FLOAT16, np.dtype(np.int32): _T.INT32,
          np.dtype(np.uint8): _T.UINT8, np.dtype(np.int64): _T.INT64, np.dtype(np.bool_): _T.BOOL,
          np.dtype(np.int16): _T.INT16, np.dtype(np.int8): _T.INT8}
CUSTOM_OP = "EdgeqTimesTwo"


class _Graph:
    """One subgraph under construction; buffers and op codes are shared through the model."""

    def __init__(self, model: "_Model", name: str) -> None:
        self.model, self.tensors, self.operators, self.name = model, [], [], name

    def tensor(self, name: str, shape: list[int], dtype: object, data: np.ndarray | None = None,
               signature: list[int] | None = None, quant: tuple[list[float], list[int]] | None = None) -> int:
        buffer = 0
        if data is not None:
            self.model.buffers.append(schema.BufferT(data=np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)))
            buffer = len(self.model.buffers) - 1
        q = schema.QuantizationParametersT(scale=quant[0], zeroPoint=quant[1]) if quant else None
        self.tensors.append(schema.TensorT(shape=list(shape), type=_TYPES[np.dtype(dtype)], buffer=buffer, name=name,
                                           shapeSignature=signature, quantization=q))
        return len(self.tensors) - 1

    def const(self, name: str, data: np.ndarray) -> int:
        return self.tensor(name, list(data.shape), data.dtype, data)

    def op(self, code: int | str, inputs: list[int], outputs: list[int], options: tuple[int, object] | None = None,
           version: int = 1) -> None:
        kind, value = options or (schema.BuiltinOptions.NONE, None)
        self.operators.append(schema.OperatorT(opcodeIndex=self.model.opcode(code, version), inputs=inputs,
                                               outputs=outputs, builtinOptionsType=kind, builtinOptions=value))

    def done(self, inputs: list[int], outputs: list[int]) -> schema.SubGraphT:
        return schema.SubGraphT(tensors=self.tensors, inputs=inputs, outputs=outputs, operators=self.operators,
                                name=self.name)


class _Model:
    def __init__(self) -> None:
        self.buffers = [schema.BufferT()]
        self.codes: list[schema.OperatorCodeT] = []
        self.subgraphs: list[schema.SubGraphT] = []
        self.signatures: list[schema.SignatureDefT] = []
        self.metadata: list[schema.MetadataT] = []

    def opcode(self, code: int | str, version: int) -> int:
        for index, known in enumerate(self.codes):
            if (known.customCode or "") == (code if isinstance(code, str) else "") and \
                    (isinstance(code, str) or known.builtinCode == code) and known.version == version:
                return index
        if isinstance(code, str):
            self.codes.append(schema.OperatorCodeT(deprecatedBuiltinCode=_Op.CUSTOM, builtinCode=_Op.CUSTOM,
                                                   customCode=code, version=version))
        else:
            self.codes.append(schema.OperatorCodeT(deprecatedBuiltinCode=min(code, 127), builtinCode=code,
                                                   version=version))
        return len(self.codes) - 1

    def add(self, graph: _Graph, inputs: dict[str, int], outputs: dict[str, int], key: str | None) -> None:
        self.subgraphs.append(graph.done(list(inputs.values()), list(outputs.values())))
        if key:
            self.signatures.append(schema.SignatureDefT(
                inputs=[schema.TensorMapT(name=k, tensorIndex=v) for k, v in inputs.items()],
                outputs=[schema.TensorMapT(name=k, tensorIndex=v) for k, v in outputs.items()],
                signatureKey=key, subgraphIndex=len(self.subgraphs) - 1))

    def bytes(self, description: str) -> bytearray:
        model = schema.ModelT(version=3, operatorCodes=self.codes, subgraphs=self.subgraphs, description=description,
                              buffers=self.buffers, signatureDefs=self.signatures, metadata=self.metadata or None)
        return flatbuffer_utils.convert_object_to_bytearray(model)


def _rng() -> np.random.Generator:
    return np.random.default_rng(15)


def _conv_options() -> tuple[int, object]:
    return schema.BuiltinOptions.Conv2DOptions, schema.Conv2DOptionsT(padding=schema.Padding.SAME, strideW=1, strideH=1)


def fp16_dequantize() -> bytearray:
    """TensorFlow's fp16 quantization: fp16 constants, DEQUANTIZE to float32, then the convolution."""
    m, g = _Model(), None
    g = _Graph(m, "main")
    x = g.tensor("image", [1, 8, 8, 3], np.float32)
    w16 = g.const("conv/weights_fp16", (0.3 * _rng().standard_normal((4, 3, 3, 3))).astype(np.float16))
    w = g.tensor("conv/weights", [4, 3, 3, 3], np.float32)
    b = g.const("conv/bias", np.full(4, 0.1, np.float32))
    y = g.tensor("features", [1, 8, 8, 4], np.float32)
    g.op(_Op.DEQUANTIZE, [w16], [w], version=3)
    g.op(_Op.CONV_2D, [x, w, b], [y], _conv_options())
    m.add(g, {"image": x}, {"features": y}, "serving_default")
    return m.bytes("odd: fp16 weights via DEQUANTIZE")


def custom_op() -> bytearray:
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("x", [1, 4], np.float32)
    y = g.tensor("y", [1, 4], np.float32)
    g.op(CUSTOM_OP, [x], [y])
    m.add(g, {"x": x}, {"y": y}, "serving_default")
    return m.bytes("odd: a custom op")


def prelu() -> bytearray:
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("x", [1, 4, 4, 3], np.float32)
    alpha = g.const("alpha", np.array([[[0.1, 0.2, 0.3]]], np.float32))
    y = g.tensor("y", [1, 4, 4, 3], np.float32)
    g.op(_Op.PRELU, [x, alpha], [y])
    m.add(g, {"x": x}, {"y": y}, "serving_default")
    return m.bytes("odd: PRELU")


def _elementwise(m: _Model, name: str, code: int, constant: float, key: str) -> None:
    g = _Graph(m, name)
    x = g.tensor("x", [1, 4], np.float32)
    c = g.const("c", np.full((1, 4), constant, np.float32))
    y = g.tensor("y", [1, 4], np.float32)
    options = (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()) if code == _Op.ADD else \
        (schema.BuiltinOptions.MulOptions, schema.MulOptionsT())
    g.op(code, [x, c], [y], options)
    m.add(g, {"x": x}, {"y": y}, key)


def two_signatures() -> bytearray:
    m = _Model()
    _elementwise(m, "add_one", _Op.ADD, 1.0, "add_one")
    _elementwise(m, "times_two", _Op.MUL, 2.0, "times_two")
    return m.bytes("odd: two signatures")


def mixed_io() -> bytearray:
    """Inputs of eight dtypes, each CAST to float32 and summed; float32, int32 and bool outputs."""
    m = _Model()
    g = _Graph(m, "main")
    inputs = {}
    total = None
    for dtype in (np.float32, np.float16, np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_):
        name = np.dtype(dtype).name
        quant = ([0.05], [3]) if dtype in (np.int8, np.uint8) else None
        t = g.tensor(f"in_{name}", [1, 4], dtype, quant=quant)
        inputs[f"in_{name}"] = t
        if dtype is not np.float32:
            cast = g.tensor(f"{name}_as_float", [1, 4], np.float32)
            g.op(_Op.CAST, [t], [cast])
            t = cast
        if total is not None:
            summed = g.tensor(f"sum_{name}", [1, 4], np.float32)
            g.op(_Op.ADD, [total, t], [summed], (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
            t = summed
        total = t
    as_int = g.tensor("sum_int32", [1, 4], np.int32)
    g.op(_Op.CAST, [total], [as_int])
    flipped = g.tensor("not_bool", [1, 4], np.bool_)
    g.op(_Op.LOGICAL_NOT, [inputs["in_bool"]], [flipped])
    m.add(g, inputs, {"sum": total, "sum_int32": as_int, "not_bool": flipped}, "serving_default")
    return m.bytes("odd: mixed dtype inputs and outputs")


def _fully_connected(m: _Model, g: _Graph, batch_signature: bool) -> tuple[int, int]:
    sig = [-1, 4] if batch_signature else None
    x = g.tensor("x", [1, 4], np.float32, signature=sig)
    w = g.const("fc/weights", (0.5 * _rng().standard_normal((3, 4))).astype(np.float32))
    b = g.const("fc/bias", np.array([0.1, -0.2, 0.3], np.float32))
    y = g.tensor("y", [1, 3], np.float32, signature=[-1, 3] if batch_signature else None)
    g.op(_Op.FULLY_CONNECTED, [x, w, b], [y], (schema.BuiltinOptions.FullyConnectedOptions,
                                               schema.FullyConnectedOptionsT()))
    return x, y


def dynamic_batch() -> bytearray:
    m = _Model()
    g = _Graph(m, "main")
    x, y = _fully_connected(m, g, True)
    m.add(g, {"x": x}, {"y": y}, "serving_default")
    return m.bytes("odd: dynamic batch")


def while_loop() -> bytearray:
    """y = x * 2**3 by a WHILE loop: cond (i < 3), body (i + 1, x * 2)."""
    m = _Model()
    main = _Graph(m, "main")
    x = main.tensor("x", [1, 4], np.float32)
    i0 = main.const("i0", np.array(0, np.int32))
    i_out = main.tensor("i_out", [], np.int32)
    y = main.tensor("y", [1, 4], np.float32)
    main.op(_Op.WHILE, [i0, x], [i_out, y],
            (schema.BuiltinOptions.WhileOptions, schema.WhileOptionsT(condSubgraphIndex=1, bodySubgraphIndex=2)))
    m.add(main, {"x": x}, {"y": y}, "serving_default")
    cond = _Graph(m, "cond")
    ci, cx = cond.tensor("i", [], np.int32), cond.tensor("x", [1, 4], np.float32)
    limit, less = cond.const("limit", np.array(3, np.int32)), cond.tensor("less", [], np.bool_)
    cond.op(_Op.LESS, [ci, limit], [less])
    m.add(cond, {"i": ci, "x": cx}, {"less": less}, None)
    body = _Graph(m, "body")
    bi, bx = body.tensor("i", [], np.int32), body.tensor("x", [1, 4], np.float32)
    one, two = body.const("one", np.array(1, np.int32)), body.const("two", np.full((1, 4), 2.0, np.float32))
    ni, nx = body.tensor("i_next", [], np.int32), body.tensor("x_next", [1, 4], np.float32)
    body.op(_Op.ADD, [bi, one], [ni], (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
    body.op(_Op.MUL, [bx, two], [nx], (schema.BuiltinOptions.MulOptions, schema.MulOptionsT()))
    m.add(body, {"i": bi, "x": bx}, {"i": ni, "x": nx}, None)
    return m.bytes("odd: a WHILE loop")


LABELS = ("cat", "dog", "bird")


def _metadata_flatbuffer() -> bytes:
    """A tflite-support ModelMetadata (identifier M001): normalization on the input, labels on the output."""
    b = flatbuffers.Builder(256)
    name, version, author = b.CreateString("odd classifier"), b.CreateString("1.2"), b.CreateString("edgeq tests")
    labels_name = b.CreateString("labels.txt")
    b.StartObject(4)  # AssociatedFile: name, description, type, locale
    b.PrependUOffsetTRelativeSlot(0, labels_name, 0)
    b.PrependInt8Slot(2, 2, 0)  # TENSOR_AXIS_LABELS
    labels_file = b.EndObject()
    mean = b.CreateNumpyVector(np.array([127.5], np.float32))
    std = b.CreateNumpyVector(np.array([127.5], np.float32))
    b.StartObject(2)  # NormalizationOptions: mean, std
    b.PrependUOffsetTRelativeSlot(0, mean, 0)
    b.PrependUOffsetTRelativeSlot(1, std, 0)
    norm = b.EndObject()
    b.StartObject(2)  # ProcessUnit: options_type, options
    b.PrependUint8Slot(0, 1, 0)
    b.PrependUOffsetTRelativeSlot(1, norm, 0)
    unit = b.EndObject()

    def vector(items: list[int]) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    units, files = vector([unit]), vector([labels_file])
    in_name, out_name = b.CreateString("x"), b.CreateString("probabilities")
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(0, in_name, 0)
    b.PrependUOffsetTRelativeSlot(4, units, 0)
    tensor_in = b.EndObject()
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(0, out_name, 0)
    b.PrependUOffsetTRelativeSlot(6, files, 0)
    tensor_out = b.EndObject()
    ins, outs = vector([tensor_in]), vector([tensor_out])
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(2, ins, 0)
    b.PrependUOffsetTRelativeSlot(3, outs, 0)
    subgraph = b.EndObject()
    subgraphs = vector([subgraph])
    b.StartObject(8)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependUOffsetTRelativeSlot(2, version, 0)
    b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(4, author, 0)
    root = b.EndObject()
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


def with_metadata() -> bytes:
    m = _Model()
    g = _Graph(m, "main")
    x, y = _fully_connected(m, g, False)
    m.add(g, {"x": x}, {"probabilities": y}, "serving_default")
    m.buffers.append(schema.BufferT(data=np.frombuffer(_metadata_flatbuffer(), np.uint8)))
    m.metadata.append(schema.MetadataT(name="TFLITE_METADATA", buffer=len(m.buffers) - 1))
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:  # labels ride along as a zip after the model
        archive.writestr("labels.txt", "\n".join(LABELS) + "\n")
    return bytes(m.bytes("odd: metadata")) + packed.getvalue()


def buffers_after() -> bytes:
    """Weights stored after the flatbuffer, addressed by Buffer.offset/size, 16-byte aligned."""
    m = _Model()
    g = _Graph(m, "main")
    x, y = _fully_connected(m, g, False)
    m.add(g, {"x": x}, {"y": y}, "serving_default")
    payloads = [bytes(b.data.tobytes()) if b.data is not None else b"" for b in m.buffers]

    def layout(start: int) -> list[tuple[int, int]]:
        places, at = [], start
        for payload in payloads:
            if not payload:
                places.append((0, 0))
                continue
            at = -(-at // 16) * 16
            places.append((at, len(payload)))
            at += len(payload)
        return places

    def emit(places: list[tuple[int, int]]) -> bytearray:
        for buffer, (offset, size) in zip(m.buffers, places):
            buffer.data, buffer.offset, buffer.size = None, offset, size
        return m.bytes("odd: buffers after the flatbuffer")

    head = emit(layout(1 << 40))  # fixed-width fields: the real layout keeps this length
    places = layout(-(-len(head) // 16) * 16)
    head = emit(places)
    out = bytearray(head)
    for payload, (offset, _) in zip(payloads, places):
        if payload:
            out += b"\0" * (offset - len(out)) + payload
    return bytes(out)


def string_input() -> bytearray:
    """A text model's end: a string tensor in, its length out (edgeq refuses strings up front)."""
    m = _Model()
    g = _Graph(m, "main")
    text = g.tensor("text", [1], np.float32)
    g.tensors[text].type = _T.STRING
    shape = g.tensor("shape", [1], np.int32)
    g.op(_Op.SHAPE, [text], [shape], (schema.BuiltinOptions.ShapeOptions, schema.ShapeOptionsT(outType=_T.INT32)))
    m.add(g, {"text": text}, {"shape": shape}, "serving_default")
    return m.bytes("odd: a string input")


BUILDERS: dict[str, Callable[[], bytes]] = {
    "fp16_dequantize": fp16_dequantize, "custom_op": custom_op, "prelu": prelu, "two_signatures": two_signatures,
    "mixed_io": mixed_io, "dynamic_batch": dynamic_batch, "while_loop": while_loop, "metadata": with_metadata,
    "buffers_after": buffers_after, "string_input": string_input,
}


def build_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, builder in BUILDERS.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(bytes(builder()))
    return paths
