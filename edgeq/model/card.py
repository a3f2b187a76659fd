"""What a .tflite model is, read from its flatbuffer alone: the card `edgeq inspect` prints.

A user's model comes from someone else's converter, so nothing here trusts a file
name or a sidecar. Signatures, tensors, ops, how the weights are stored and the
quantization type all come from the schema's tables; no runtime is loaded, so a
model that would crash a runtime can still be explained. The reader
(reader.inspect_model) has already refused files that are not models.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.agent.wire import MODEL_CARD
from edgeq.errors import ModelError
from edgeq.model import storage
from edgeq.model.metadata import read_metadata

# TensorType names of the TFLite schema (numbers are the schema's).
TYPE_NAMES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
    8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource", 14: "variant",
    15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16",
}
CONTROL_FLOW = ("WHILE", "IF", "CALL_ONCE", "STABLEHLO_WHILE", "STABLEHLO_CASE")


@dataclass(frozen=True)
class TensorCard:
    """One input or output: its shape with dynamic dims as -1, and how it is quantized."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    axis: int | None = None
    stored: tuple[int, ...] = ()
    """The shape stored in the tensor (a dynamic dim's default)."""
    tensor: str = ""
    """The graph tensor's own name when a signature calls it otherwise (`keras_tensor` is
    `serving_default_keras_tensor:0` in the graph); `--input-shape` takes either."""

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.shape)

    @property
    def quantization(self) -> str:
        if not self.scales:
            return "none"
        if len(self.scales) == 1:
            return f"per-tensor scale {self.scales[0]:.6g} zero point {self.zero_points[0] if self.zero_points else 0}"
        return f"per-channel ({len(self.scales)} scales, axis {self.axis})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "dynamic": self.dynamic,
                "quantization": self.quantization, "scales": list(self.scales), "zero_points": list(self.zero_points),
                "axis": self.axis}


@dataclass(frozen=True)
class OpFact:
    """One operator as the runtime rules see it: which op at which version, what it reads, its weights."""

    op: str
    version: int
    input_type: str | None
    """The type of its first input (None when it has none)."""
    weight_type: str | None
    """The type of its second input, the weights of a convolution or dense layer."""
    weight_channels: int
    """How many scales the weights carry: more than 1 means per channel."""
    output_type: str | None = None
    """The type of its first output (a QUANTIZE from int8 to int16 is told by it)."""


@dataclass(frozen=True)
class Signature:
    key: str
    subgraph: int
    inputs: tuple[TensorCard, ...]
    outputs: tuple[TensorCard, ...]


@dataclass(frozen=True)
class ModelCard:
    """Everything `edgeq inspect` says about one model, and what the verdict rules look at."""

    path: Path
    size_bytes: int
    description: str
    subgraphs: tuple[dict[str, Any], ...]
    signatures: tuple[Signature, ...]
    ops: dict[str, int]
    custom_ops: tuple[str, ...]
    control_flow: tuple[str, ...]
    weights: dict[str, dict[str, int]]
    """Storage kind (fp32, fp16, int8 per-channel...) -> {"tensors": n, "bytes": n}."""
    quantization: str
    layers: dict[str, int]
    """Weighted ops by kind (see storage.layer_kind), the evidence for `quantization`."""
    weights_from_dequantize: tuple[str, ...]
    """Weighted ops whose weights are computed (DEQUANTIZE of fp16/int8 constants), not constants."""
    weight_bytes: int
    buffers_after_flatbuffer: bool
    metadata: dict[str, Any] | None
    types: frozenset[str] = field(default_factory=frozenset)
    without_bias: tuple[str, ...] = ()
    """Convolutions and dense layers whose bias input is omitted (-1): TensorFlow's converter drops an
    all-zero bias, which is every such layer of an untrained Keras model; ArmNN 20.08 cannot parse it."""
    operators: tuple[OpFact, ...] = ()
    """Every operator of every subgraph, in order: what the runtime rules that look at op versions,
    activation types and per-channel weights read (not printed)."""
    codes_in_new_field_only: tuple[str, ...] = ()
    """Ops whose code is written only in the flatbuffer's `builtin_code` (its old `deprecated_builtin_code`
    left 0, which reads as ADD, though the code fits it): ai-edge-quantizer 0.10 writes the QUANTIZE and
    DEQUANTIZE it adds so; a parser that reads the old field only sees ADD."""

    def any_op(self, op: str | tuple[str, ...], **facts: object) -> list[OpFact]:
        """The operators named `op` whose facts equal the ones given (input_type="int8", ...)."""
        names = (op,) if isinstance(op, str) else op
        return [o for o in self.operators if o.op in names and all(getattr(o, k) == v for k, v in facts.items())]

    @property
    def inputs(self) -> tuple[TensorCard, ...]:
        return self.signatures[0].inputs

    @property
    def outputs(self) -> tuple[TensorCard, ...]:
        return self.signatures[0].outputs

    @property
    def dynamic_inputs(self) -> tuple[TensorCard, ...]:
        return tuple(t for s in self.signatures for t in s.inputs if t.dynamic)

    def signature(self, key: str | None) -> Signature:
        """The signature named `key`, or the first; ModelError naming the choices otherwise."""
        if key is None:
            return self.signatures[0]
        for signature in self.signatures:
            if signature.key == key:
                return signature
        raise ModelError(f"{self.path}: no signature {key!r}; it has {', '.join(s.key for s in self.signatures)}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": MODEL_CARD.tag,
            "path": str(self.path), "size_bytes": self.size_bytes, "description": self.description,
            "size": {"weights_bytes": self.weight_bytes, "graph_bytes": self.size_bytes - self.weight_bytes,
                     "buffers_after_flatbuffer": self.buffers_after_flatbuffer},
            "subgraphs": list(self.subgraphs),
            "signatures": [{"key": s.key, "subgraph": s.subgraph, "inputs": [t.as_dict() for t in s.inputs],
                            "outputs": [t.as_dict() for t in s.outputs]} for s in self.signatures],
            "ops": dict(self.ops), "custom_ops": list(self.custom_ops), "control_flow": list(self.control_flow),
            "weights": {k: dict(v) for k, v in self.weights.items()}, "layers": dict(self.layers),
            "weights_from_dequantize": list(self.weights_from_dequantize),
            "quantization": self.quantization, "metadata": self.metadata,
        }


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _tensor(tensor: Any) -> TensorCard:
    shape = tensor.shapeSignature if tensor.shapeSignature is not None and len(tensor.shapeSignature) else tensor.shape
    quant = tensor.quantization
    scales = tuple(float(s) for s in (quant.scale if quant is not None and quant.scale is not None else ()))
    zeros = tuple(int(z) for z in (quant.zeroPoint if quant is not None and quant.zeroPoint is not None else ()))
    return TensorCard(_text(tensor.name), tuple(int(d) for d in (shape if shape is not None else ())),
                      TYPE_NAMES.get(tensor.type, f"type {tensor.type}"), scales, zeros,
                      int(quant.quantizedDimension) if quant is not None and len(scales) > 1 else None,
                      tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ())))


def _signatures(model: Any) -> tuple[Signature, ...]:
    found = []
    for sig in model.signatureDefs or []:
        graph = model.subgraphs[sig.subgraphIndex]
        ins = tuple(_tensor(graph.tensors[m.tensorIndex]) for m in sig.inputs or [])
        outs = tuple(_tensor(graph.tensors[m.tensorIndex]) for m in sig.outputs or [])
        names_in = [_text(m.name) for m in sig.inputs or []]
        names_out = [_text(m.name) for m in sig.outputs or []]
        ins = tuple(dataclasses.replace(t, name=n or t.name, tensor=t.name) for n, t in zip(names_in, ins))
        outs = tuple(dataclasses.replace(t, name=n or t.name) for n, t in zip(names_out, outs))
        found.append(Signature(_text(sig.signatureKey) or f"subgraph {sig.subgraphIndex}", int(sig.subgraphIndex),
                               ins, outs))
    if not found:  # older converters write no SignatureDef: the main subgraph's own ends
        graph = model.subgraphs[0]
        found.append(Signature("(main subgraph)", 0, tuple(_tensor(graph.tensors[i]) for i in graph.inputs),
                               tuple(_tensor(graph.tensors[i]) for i in graph.outputs)))
    return tuple(found)


WITH_BIAS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})
"""Ops whose third input is a bias ArmNN's parser expects."""


def _operators(model: Any, op_names: tuple[str, ...]) -> tuple[OpFact, ...]:
    found = []
    for graph in model.subgraphs:
        tensors = graph.tensors or []
        for op in graph.operators or []:
            inputs = [int(i) for i in (op.inputs if op.inputs is not None else ())]
            first = tensors[inputs[0]] if inputs and inputs[0] >= 0 else None
            weight = tensors[inputs[1]] if len(inputs) > 1 and inputs[1] >= 0 else None
            quant = weight.quantization if weight is not None else None
            scales = quant.scale if quant is not None and quant.scale is not None else ()
            outputs = [int(i) for i in (op.outputs if op.outputs is not None else ())]
            out = tensors[outputs[0]] if outputs and outputs[0] >= 0 else None
            found.append(OpFact(op_names[op.opcodeIndex], int(model.operatorCodes[op.opcodeIndex].version or 1),
                                TYPE_NAMES.get(first.type, str(first.type)) if first is not None else None,
                                TYPE_NAMES.get(weight.type, str(weight.type)) if weight is not None else None,
                                len(scales), TYPE_NAMES.get(out.type, str(out.type)) if out is not None else None))
    return tuple(found)


def build_card(path: Path, data: bytes, model: Any, op_names: tuple[str, ...]) -> ModelCard:
    """The card of a parsed model (schema ModelT); IndexError/TypeError on damaged tables reach the reader."""
    histogram: Counter[str] = Counter()
    subgraphs = []
    for index, graph in enumerate(model.subgraphs):
        ops = graph.operators or []
        histogram.update(op_names[op.opcodeIndex] for op in ops)
        subgraphs.append({"index": index, "name": _text(graph.name), "operators": len(ops),
                          "tensors": len(graph.tensors or [])})
    custom = tuple(sorted({_text(c.customCode) for c in model.operatorCodes or [] if c.customCode}))
    stored = storage.read(model, data, op_names)
    types = frozenset(TYPE_NAMES.get(t.type, str(t.type)) for g in model.subgraphs for t in g.tensors or [])
    without_bias = tuple(sorted({op_names[op.opcodeIndex] for g in model.subgraphs for op in g.operators or []
                                 if op_names[op.opcodeIndex] in WITH_BIAS
                                 and (len(op.inputs) < 3 or op.inputs[2] < 0)}))
    return ModelCard(
        path=path, size_bytes=len(data), description=_text(model.description),
        subgraphs=tuple(subgraphs), signatures=_signatures(model), ops=dict(histogram.most_common()),
        custom_ops=custom, control_flow=tuple(op for op in histogram if op in CONTROL_FLOW),
        weights=stored.weights, quantization=stored.quantization, layers=stored.layers,
        weights_from_dequantize=stored.from_dequantize, weight_bytes=stored.weight_bytes,
        buffers_after_flatbuffer=stored.after_flatbuffer, metadata=read_metadata(model, data), types=types,
        without_bias=without_bias, operators=_operators(model, op_names),
        codes_in_new_field_only=tuple(sorted({op_names[i] for i, code in enumerate(model.operatorCodes or [])
                                              if code.deprecatedBuiltinCode == 0 and 0 < code.builtinCode < 127})),
    )
