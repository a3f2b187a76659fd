"""Runtime compatibility: variants known to fail, or to be silently wrong, on a given runtime.

Each rule was seen on real runs: tflite-runtime 2.14, pyarmnn 20.08 (Debian 12 bookworm,
libarmnn22, reports 22.0.0) and pyarmnn 23.08 (Debian 13 trixie, libarmnn33, reports
33.0.0), the latter two on the emulated boards (qemu-aarch64, qemu-aarch64-trixie) with
CpuAcc and CpuRef. A rule applies to the newest version it was seen on (`seen`) and to
older ones; `lifted` names the version measured to accept what the rule is about.
The model is read from its flatbuffer, so any variant is checked, whoever made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgeq.errors import ConfigError
from edgeq.quantize.sidecar import Variant

RUNTIMES = ("tflite-runtime", "pyarmnn")
# Names the agent's facts use for the runtimes' modules.
FACT_NAMES = {"tflite_runtime": "tflite-runtime", "pyarmnn": "pyarmnn"}
_LAYERS_WITH_BIAS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")
ARMNN_RELEASES = {22: (20, 8), 33: (23, 8)}
"""pyarmnn reports its ArmNN library's version (22.0.0, 33.0.0); the release Debian ships it as."""


class CompatWarning(UserWarning):
    """A variant that a target runtime is known to refuse or to run wrongly."""


@dataclass(frozen=True)
class Layer:
    op: str
    version: int
    input_type: str
    weight_type: str | None
    weight_channels: int
    """How many scales the weights carry: more than 1 means per channel."""
    has_bias: bool
    output_type: str | None = None
    code_only_in_new_field: bool = False
    """builtin_code set, deprecated_builtin_code left 0 (ADD) although the code fits it (< 127):
    what ai-edge-quantizer 0.10 writes for the op codes it adds (DEQUANTIZE, QUANTIZE)."""


@dataclass(frozen=True)
class Rule:
    runtime: str
    seen: str
    """Newest version it was seen on; a pyarmnn version may be given as the ArmNN release (20.08)."""
    applies: Callable[[list[Layer], set[str]], bool]
    text: str
    lifted: str | None = None
    """The version measured to accept it (the rule then does not apply there)."""


def _fc(layers: list[Layer], quantized_input: bool) -> bool:
    return any(layer.op == "FULLY_CONNECTED" and layer.weight_channels > 1
               and (layer.input_type in ("int8", "int16")) == quantized_input
               and layer.weight_type == "int8" and layer.version < 12 for layer in layers)


RULES = (
    Rule("tflite-runtime", "2.14", lambda layers, types: _fc(layers, quantized_input=False),
         "dynamic-range FullyConnected with per-channel weights loads but gives wrong answers "
         "(digits accuracy 0.987 -> 0.10); quantize with per_tensor_dense=True (--per-tensor-dense)"),
    Rule("tflite-runtime", "2.14", lambda layers, types: "int4" in types,
         "int4 weights cannot be loaded (dynamic int4 also gives NaN or crashes); use int8-weights or dynamic"),
    Rule("tflite-runtime", "2.14",
         lambda layers, types: any(layer.op == "FULLY_CONNECTED" and layer.version >= 12 for layer in layers),
         "FULLY_CONNECTED version 12 (TensorFlow's dynamic range with Dense layers) fails to load; "
         "make dynamic from the fp32 .tflite with ai-edge-quantizer and per_tensor_dense=True, or use int8"),
    Rule("tflite-runtime", "2.14",
         lambda layers, types: any(layer.op == "QUANTIZE" and layer.input_type in ("int8", "uint8")
                                   and layer.output_type == "int16" for layer in layers),
         "int8 -> int16 QUANTIZE (a mixed int8/int16x8 model, as advise's int8-mixed16 variants): 2.14's "
         "QUANTIZE kernel fails to prepare (\"output->type == kTfLiteUInt8 || output->type == kTfLiteInt8 was "
         "not true\"); use ai-edge-litert, or a mixed variant kept in float"),
    Rule("pyarmnn", "23.08", lambda layers, types: _fc(layers, quantized_input=True),
         "int8 FullyConnected with per-channel weights: 20.08's CpuAcc refuses it and its CpuRef aborts; 23.08 "
         "refuses it on both (\"Failed to assign a backend to each layer\"); quantize with per_tensor_dense=True "
         "(--per-tensor-dense)"),
    Rule("pyarmnn", "20.08", lambda layers, types: any(layer.code_only_in_new_field for layer in layers),
         "an op code is written only in the flatbuffer's new builtin_code field (ai-edge-quantizer does so for the "
         "QUANTIZE/DEQUANTIZE ops it adds) and 20.08's TfLite parser reads the old field, 0 = ADD (\"Failed to parse "
         "operator ... ParseAdd\"); use a variant made by the TensorFlow converter (23.08 not checked)"),
    Rule("pyarmnn", "20.08",
         lambda layers, types: any(layer.op in _LAYERS_WITH_BIAS and not layer.has_bias for layer in layers),
         "a layer has no bias (the converter drops an all-zero bias) and ArmNN fails on the missing input; "
         "give the layer a tiny nonzero bias before converting"),
    Rule("pyarmnn", "23.08", lambda layers, types: "int64" in types or any(
             layer.input_type == "int16" and layer.op in _LAYERS_WITH_BIAS for layer in layers),
         "int16x8: 20.08's TfLite parser refuses the int64 biases (\"Unsupported data type = INT64\"); 23.08 "
         "parses them but no CpuAcc or CpuRef layer takes them (\"Failed to assign a backend to each layer\"); "
         "use int8 for ArmNN boards"),
    Rule("pyarmnn", "20.08",
         lambda layers, types: any(layer.op in _LAYERS_WITH_BIAS and layer.input_type == "float32"
                                   and layer.weight_type == "int8" for layer in layers),
         "hybrid layers (float activations with int8 weights, as dynamic range makes them) run on no ArmNN "
         "20.08 backend (\"not supported on any preferred backend\"); use int8 or fp32, or pyarmnn 23.08",
         lifted="23.08"),
    Rule("pyarmnn", "20.08",
         lambda layers, types: any(layer.op == "MEAN" and layer.input_type == "int8" for layer in layers),
         "CpuAcc does not support int8 MEAN (GlobalAveragePooling); use AveragePooling2D over the whole "
         "feature map instead, or run on CpuRef"),
    Rule("pyarmnn", "20.08",
         lambda layers, types: any(layer.op == "DEQUANTIZE" and layer.input_type == "float16" for layer in layers),
         "fp16 weights (float16 constants behind DEQUANTIZE): 20.08's TfLite parser reads their buffers as empty "
         "(\"Buffer #N has 0 bytes\"); use fp32 or int8, or pyarmnn 23.08", lifted="23.08"),
    Rule("pyarmnn", "20.08", lambda layers, types: any(layer.op == "PRELU" for layer in layers),
         "PRELU: 20.08's TfLite parser has no such operator (\"Operator not supported ... PRELU\"); use ReLU or "
         "LeakyReLU, or pyarmnn 23.08", lifted="23.08"),
)


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        raise ConfigError(f"runtime version '{text}' is not a version like 2.14 or 20.08") from None


def _affected(runtime: str, version: str | None, rule: Rule) -> bool:
    if runtime != rule.runtime:
        return False
    if version is None:
        return True
    parts = _version(version)
    if runtime == "pyarmnn" and len(parts) == 3:  # the library's version: 22.0.0 is ArmNN 20.08, 33.0.0 is 23.08
        parts = armnn_release(parts[0])
    return parts <= _version(rule.seen)


def armnn_release(library_major: int) -> tuple[int, ...]:
    """The ArmNN release of a library major version; one between or beyond the known ones is placed
    after the newest release below it (a rule seen there is not claimed for it)."""
    if library_major in ARMNN_RELEASES:
        return ARMNN_RELEASES[library_major]
    below = [release for major, release in ARMNN_RELEASES.items() if major < library_major]
    return (*max(below), 1) if below else (0,)


def rules_for(targets: list[str]) -> list[tuple[str, Rule]]:
    """Rules for targets like 'tflite-runtime==2.14', 'pyarmnn==20.08' or 'pyarmnn' (any version)."""
    chosen = []
    for target in targets:
        runtime, _, version = target.partition("==")
        runtime = runtime.strip().replace("_", "-")
        if runtime not in RUNTIMES:
            raise ConfigError(f"unknown target runtime '{runtime}'. Choose from: {', '.join(RUNTIMES)}")
        chosen += [(target, rule) for rule in RULES if _affected(runtime, version.strip() or None, rule)]
    return chosen


def targets_from_facts(facts: dict) -> list[str]:
    """The runtimes a board reports (agent `facts`), as targets."""
    found = facts.get("runtimes", {})
    targets = [f"{FACT_NAMES[name]}=={version}" for name, version in found.items() if name in FACT_NAMES]
    armnn = facts.get("pyarmnn") or facts.get("armnn") or {}
    version = armnn.get("armnn_version") or armnn.get("version")
    if armnn.get("installed") and version and "pyarmnn" not in found:
        targets.append(f"pyarmnn=={version}")
    return targets


def layers(model: Path) -> tuple[list[Layer], set[str]]:
    """The layers the rules look at, and the set of tensor types in the model."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    flat = schema.ModelT.InitFromPackedBuf(Path(model).read_bytes(), 0)
    graph = flat.subgraphs[0]
    found = []
    for op in graph.operators or []:
        code = flat.operatorCodes[op.opcodeIndex]
        name = ops.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        inputs = list(op.inputs)
        weight = graph.tensors[inputs[1]] if len(inputs) > 1 and inputs[1] >= 0 else None
        scales = weight.quantization.scale if weight is not None and weight.quantization is not None else None
        found.append(Layer(name, code.version, names[graph.tensors[inputs[0]].type],
                           names[weight.type] if weight is not None else None,
                           len(scales) if scales is not None else 0,
                           len(inputs) > 2 and inputs[2] >= 0,
                           names[graph.tensors[op.outputs[0]].type] if op.outputs is not None and len(op.outputs)
                           else None, code.deprecatedBuiltinCode == 0 and 0 < code.builtinCode < 127))
    return found, {names[t.type] for t in graph.tensors}


def check(model: Path, rules: list[tuple[str, Rule]], variant: Variant | None = None) -> list[str]:
    """One line per rule that `model` trips: the target, what goes wrong, what to do instead."""
    if not rules:
        return []
    found, types = layers(model)
    label = f"{variant.mode} variant {model.name}" if variant else model.name
    return [f"{label} on {target}: {rule.text}" for target, rule in rules if rule.applies(found, types)]
