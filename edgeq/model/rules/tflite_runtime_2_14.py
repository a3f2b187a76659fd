"""tflite-runtime 2.14 (the Interpreter wheel of Raspberry Pi OS bookworm boards), CPU.

The quantization rules were seen on real runs of `edgeq quantize`'s variants on tflite-runtime
2.14 (tests/test_quantize.py checks that quantize warns of them).
"""

from edgeq.model.rules import REFUSED, WRONG, Rule, RuleTable
from edgeq.model.rules import common
from edgeq.model.rules.litert import BUILTIN_CUSTOM_OPS

def _int8_to_int16(card) -> str | None:  # noqa: ANN001 - a ModelCard
    hits = [op for op in card.any_op("QUANTIZE") if op.input_type in ("int8", "uint8") and op.output_type == "int16"]
    return f"int8 -> int16 QUANTIZE x{len(hits)}" if hits else None


TABLE = RuleTable("tflite-cpu", "tflite_runtime", "2.14", (
    Rule("custom-op", REFUSED, common.custom_ops,
         "custom op {found} is not built into the runtime",
         "'RuntimeError: Encountered unresolved custom op' as with LiteRT (issue #15)", certain=True),
    Rule("int4", REFUSED, common.tensor_type("int4"),
         "int4 weights cannot be loaded by tflite-runtime 2.14 (dynamic int4 also gives NaN or crashes); "
         "use int8-weights or dynamic",
         "int4-weights and dynamic-int4 variants of tiny-cnn failed to load on tflite-runtime 2.14"),
    Rule("dynamic-fc-per-channel", WRONG, common.per_channel_fc(quantized_input=False),
         "dynamic-range FullyConnected with per-channel weights loads but gives wrong answers ({found}); "
         "quantize with per_tensor_dense=True (--per-tensor-dense)",
         "ai-edge-quantizer's dynamic variant of digits-cnn on tflite-runtime 2.14: accuracy 0.987 -> 0.10"),
    Rule("fc-version-12", REFUSED, common.op_version_from("FULLY_CONNECTED", 12),
         "FULLY_CONNECTED version 12 (TensorFlow's dynamic range with Dense layers) fails to load ({found}); "
         "make dynamic from the fp32 .tflite with ai-edge-quantizer and per_tensor_dense=True, or use int8",
         "TensorFlow's dynamic variant of digits-cnn failed to load on tflite-runtime 2.14; a dense layer "
         "marked version 12 gives: 'Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12''"),
    Rule("int8-to-int16-quantize", REFUSED, _int8_to_int16,
         "{found}: a mixed int8/int16x8 model (advise's int8-mixed16 variants); 2.14's QUANTIZE kernel refuses "
         "it; use ai-edge-litert, or a mixed variant kept in float",
         "advise's int8-mixed16-k1 digits variant on tflite-runtime 2.14: 'quantize.cc:136 output->type == "
         "kTfLiteUInt8 || output->type == kTfLiteInt8 was not true. Node number 5 (QUANTIZE) failed to prepare.'"),
), known_custom_ops=BUILTIN_CUSTOM_OPS)
