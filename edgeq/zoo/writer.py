"""Serialise a Graph as a TFLite flatbuffer through the schema's object API.

The file should look like the converter's output to every runtime and tool that
reads it: schema version 3, buffer 0 empty, op codes carrying both the
deprecated int8 code and the full builtin code, op versions matching the
tensor types, constant data aligned to 16 bytes and a "serving_default"
signature, which LiteRT's CompiledModel needs to find its inputs and outputs.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from edgeq.zoo.graph import Graph, Node
from edgeq.zoo.quantize import QParams, QuantizedConstant, quantize_bias, quantize_weights

SIGNATURE_KEY = "serving_default"
SCHEMA_VERSION = 3

# The schema asks for force_align: 16 on buffer data; delegates map weights in place.
_BUFFER_ALIGNMENT = 16
# Builtin codes above this only fit in OperatorCode.builtinCode.
_MAX_DEPRECATED_CODE = 127

_Op = schema.BuiltinOperator
_ACTIVATION = {
    "none": schema.ActivationFunctionType.NONE,
    "relu": schema.ActivationFunctionType.RELU,
    "relu6": schema.ActivationFunctionType.RELU6,
}
_TENSOR_TYPE = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.int32): schema.TensorType.INT32,
    np.dtype(np.int8): schema.TensorType.INT8,
}
_OptionsFn = Callable[[Node, tuple[int, ...]], tuple[int, object]]


class _AlignedBufferT(schema.BufferT):
    """A BufferT whose bytes start on a 16-byte boundary of the finished file.

    The generated Pack() aligns to the element size (1 byte), which leaves
    float and int32 weights misaligned for runtimes that use them in place.
    """

    def Pack(self, builder):  # noqa: N802 - flatbuffers' name
        payload = self.data.tobytes()
        builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
        builder.head -= len(payload)
        builder.Bytes[builder.head:builder.head + len(payload)] = payload
        data = builder.EndVector()
        schema.BufferStart(builder)
        schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def _conv2d_options(node: Node, _: tuple[int, ...]) -> tuple[int, object]:
    return schema.BuiltinOptions.Conv2DOptions, schema.Conv2DOptionsT(
        padding=schema.Padding.SAME, strideW=node.stride, strideH=node.stride,
        fusedActivationFunction=_ACTIVATION[node.activation])


def _depthwise_options(node: Node, _: tuple[int, ...]) -> tuple[int, object]:
    return schema.BuiltinOptions.DepthwiseConv2DOptions, schema.DepthwiseConv2DOptionsT(
        padding=schema.Padding.SAME, strideW=node.stride, strideH=node.stride,
        depthMultiplier=1, fusedActivationFunction=_ACTIVATION[node.activation])


def _pool_options(node: Node, input_shape: tuple[int, ...]) -> tuple[int, object]:
    _, height, width, _ = input_shape
    return schema.BuiltinOptions.Pool2DOptions, schema.Pool2DOptionsT(
        padding=schema.Padding.VALID, strideW=1, strideH=1, filterWidth=width,
        filterHeight=height, fusedActivationFunction=_ACTIVATION[node.activation])


_OPS: dict[str, tuple[int, int, int, _OptionsFn]] = {
    # op: (builtin, float version, int8 version, options)
    "conv2d": (_Op.CONV_2D, 1, 3, _conv2d_options),
    "depthwise_conv2d": (_Op.DEPTHWISE_CONV_2D, 1, 3, _depthwise_options),
    "average_pool": (_Op.AVERAGE_POOL_2D, 1, 2, _pool_options),
    "reshape": (_Op.RESHAPE, 1, 1, lambda node, _: (
        schema.BuiltinOptions.ReshapeOptions, schema.ReshapeOptionsT(newShape=list(node.shape)))),
    "fully_connected": (_Op.FULLY_CONNECTED, 1, 4, lambda node, _: (
        schema.BuiltinOptions.FullyConnectedOptions,
        schema.FullyConnectedOptionsT(fusedActivationFunction=_ACTIVATION[node.activation]))),
    "add": (_Op.ADD, 1, 2, lambda node, _: (
        schema.BuiltinOptions.AddOptions,
        schema.AddOptionsT(fusedActivationFunction=_ACTIVATION[node.activation]))),
    "l2_normalization": (_Op.L2_NORMALIZATION, 1, 2, lambda node, _: (
        schema.BuiltinOptions.L2NormOptions,
        schema.L2NormOptionsT(fusedActivationFunction=_ACTIVATION[node.activation]))),
    "softmax": (_Op.SOFTMAX, 1, 2, lambda node, _: (
        schema.BuiltinOptions.SoftmaxOptions, schema.SoftmaxOptionsT(beta=1.0))),
}
_QUANTIZE_VERSION = 2  # float32 -> int8
_DEQUANTIZE_VERSION = 2  # int8 -> float32


class _ModelWriter:
    """Accumulates tensors, buffers, op codes and operators of one subgraph."""

    def __init__(self) -> None:
        self.tensors: list[schema.TensorT] = []
        self.buffers: list[schema.BufferT] = [schema.BufferT()]
        self.operators: list[schema.OperatorT] = []
        self.opcodes: list[schema.OperatorCodeT] = []
        self._opcode_index: dict[tuple[int, int], int] = {}

    def tensor(self, name: str, shape: tuple[int, ...], dtype: np.dtype,
               quantization: schema.QuantizationParametersT | None = None,
               data: np.ndarray | None = None) -> int:
        buffer = 0
        if data is not None:
            self.buffers.append(_AlignedBufferT(data=np.ascontiguousarray(data)))
            buffer = len(self.buffers) - 1
        self.tensors.append(schema.TensorT(
            shape=list(shape), type=_TENSOR_TYPE[np.dtype(dtype)], buffer=buffer, name=name,
            quantization=quantization))
        return len(self.tensors) - 1

    def constant(self, name: str, data: np.ndarray,
                 quantization: schema.QuantizationParametersT | None = None) -> int:
        return self.tensor(name, data.shape, data.dtype, quantization, data)

    def operator(self, builtin: int, version: int, inputs: list[int], outputs: list[int],
                 options: tuple[int, object] | None = None) -> None:
        options_type, options_object = options or (schema.BuiltinOptions.NONE, None)
        self.operators.append(schema.OperatorT(
            opcodeIndex=self._opcode(builtin, version), inputs=inputs, outputs=outputs,
            builtinOptionsType=options_type, builtinOptions=options_object))

    def model(self, description: str, inputs: dict[str, int], outputs: dict[str, int]) -> schema.ModelT:
        subgraph = schema.SubGraphT(
            tensors=self.tensors, inputs=list(inputs.values()), outputs=list(outputs.values()),
            operators=self.operators, name="main")
        signature = schema.SignatureDefT(
            inputs=[schema.TensorMapT(name=k, tensorIndex=v) for k, v in inputs.items()],
            outputs=[schema.TensorMapT(name=k, tensorIndex=v) for k, v in outputs.items()],
            signatureKey=SIGNATURE_KEY, subgraphIndex=0)
        return schema.ModelT(
            version=SCHEMA_VERSION, operatorCodes=self.opcodes, subgraphs=[subgraph],
            description=description, buffers=self.buffers, signatureDefs=[signature])

    def _opcode(self, builtin: int, version: int) -> int:
        key = (builtin, version)
        if key not in self._opcode_index:
            self._opcode_index[key] = len(self.opcodes)
            self.opcodes.append(schema.OperatorCodeT(
                deprecatedBuiltinCode=min(builtin, _MAX_DEPRECATED_CODE), version=version,
                builtinCode=builtin))
        return self._opcode_index[key]


def _quantization(scales: np.ndarray | list[float], zero_points: list[int],
                  axis: int = 0) -> schema.QuantizationParametersT:
    return schema.QuantizationParametersT(
        scale=[float(s) for s in scales], zeroPoint=list(zero_points), quantizedDimension=axis)


def _per_tensor(qparams: QParams) -> schema.QuantizationParametersT:
    return _quantization([qparams.scale], [qparams.zero_point])


def _symmetric(constant: QuantizedConstant) -> schema.QuantizationParametersT:
    return _quantization(constant.scales, [0] * len(constant.scales), constant.axis)


def _constant_inputs(writer: _ModelWriter, node: Node, input_qparams: QParams | None) -> list[int]:
    """The op's weight, bias or shape tensors, quantized when the model is."""
    if node.op == "reshape":
        return [writer.constant(f"{node.name}/shape", np.array(node.shape, np.int32))]
    if not node.has_weights:
        return []
    if input_qparams is None:
        return [writer.constant(f"{node.name}/weights", node.weights),
                writer.constant(f"{node.name}/bias", node.bias)]
    weights = quantize_weights(node)
    bias = quantize_bias(node.bias, input_qparams.scale, weights.scales)
    return [writer.constant(f"{node.name}/weights", weights.values, _symmetric(weights)),
            writer.constant(f"{node.name}/bias", bias.values, _symmetric(bias))]


def serialize(graph: Graph, description: str, plan: list[QParams] | None = None,
              float_io: bool = False) -> bytearray:
    """The .tflite bytes of a float graph, or of its int8 version when given a plan.

    With float_io an int8 model gets float32 ends: QUANTIZE after the input and
    DEQUANTIZE before the output, as the converter does for float interfaces.
    """
    writer = _ModelWriter()
    dtype = np.int8 if plan else np.float32
    tensor_of = [writer.tensor(node.name, node.shape, dtype, _per_tensor(plan[i]) if plan else None)
                 for i, node in enumerate(graph.nodes)]
    model_input, model_output = tensor_of[graph.input], tensor_of[graph.output]
    float_io = bool(plan) and float_io
    if float_io:
        model_input = writer.tensor("input/float", graph.shape(graph.input), np.float32)
        writer.operator(_Op.QUANTIZE, _QUANTIZE_VERSION, [model_input], [tensor_of[graph.input]])
    for index, node in enumerate(graph.nodes[1:], start=1):
        builtin, float_version, int8_version, options = _OPS[node.op]
        input_qparams = plan[node.inputs[0]] if plan else None
        inputs = [tensor_of[i] for i in node.inputs] + _constant_inputs(writer, node, input_qparams)
        writer.operator(builtin, int8_version if plan else float_version, inputs,
                        [tensor_of[index]], options(node, graph.shape(node.inputs[0])))
    if float_io:
        model_output = writer.tensor("output/float", graph.shape(graph.output), np.float32)
        writer.operator(_Op.DEQUANTIZE, _DEQUANTIZE_VERSION, [tensor_of[graph.output]], [model_output])
    model = writer.model(description, {"input": model_input}, {"output": model_output})
    return flatbuffer_utils.convert_object_to_bytearray(model)
