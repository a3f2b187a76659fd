"""ArmNN 20.08 through pyarmnn 22.0.0's TfLiteParser (Debian bookworm's python3-pyarmnn).

Each rule names the error the parser or optimizer gave; the corpus ones were seen on the
local board with edgeq/testing/oddmodels.py's models, the quantization ones on variants
made by `edgeq quantize` (run on the local board and the emulated bookworm board, CpuAcc
and CpuRef). A rule seen on 23.08 too is also in armnn_23_08.py; the ones missing there
were measured to be lifted (PRELU, DEQUANTIZE weights, hybrid layers) or not re-measured.
"""

from edgeq.model.rules import PARTLY, REFUSED, Rule, RuleTable
from edgeq.model.rules import common

# ArmNN's TfLite parser knows this one custom op (SSD's post-processing), no other.
PARSER_CUSTOM_OPS = frozenset({"TFLite_Detection_PostProcess"})
# Builtin ops the 20.08 parser was seen to refuse ("Operator not supported").
UNSUPPORTED_OPS = ("CAST", "SQUARED_DIFFERENCE")


def _int8_mean(card) -> str | None:  # noqa: ANN001 - a ModelCard
    return "MEAN" if card.any_op("MEAN", input_type="int8") else None


TABLE = RuleTable("armnn", "pyarmnn", "20.08", (
    Rule("custom-op", REFUSED, common.custom_ops,
         "custom op {found} is unknown to ArmNN's TfLite parser",
         "issue #15: the parser refuses any custom op but TFLite_Detection_PostProcess", certain=True),
    Rule("one-subgraph", REFUSED, common.subgraphs_beyond_one,
         "ArmNN 20.08's TfLite parser reads only models with one subgraph; this one has {found}",
         "corpus two_signatures and while_loop: 'Current TfLite parser only supports 1 subgraph. Current one has: 2'"),
    Rule("dequantized-weights", REFUSED, common.dequantized_weights,
         "ArmNN 20.08 needs constant weights but these come from DEQUANTIZE ({found}); fp16 weights are stored "
         "so: use fp32 or int8, or pyarmnn 23.08",
         "12 of 14 published models, corpus fp16_dequantize and fp16 variants: 'Buffer #0 has 0 bytes. For tensor: "
         "[24,5,5,3]' (fp16 weights through DEQUANTIZE, issue #15)"),
    Rule("buffers-after-flatbuffer", REFUSED, common.buffers_after,
         "ArmNN 20.08 cannot read weights stored after the flatbuffer (the layout of models over 2 GB)",
         "corpus buffers_after: 'Buffer #1 has 0 bytes. For tensor: [3,4] expecting: 48 bytes'"),
    Rule("prelu", REFUSED, common.ops("PRELU"),
         "PRELU is unsupported by ArmNN 20.08's TfLite parser; use ReLU or LeakyReLU, or pyarmnn 23.08",
         "issue #15 and corpus prelu: 'Operator not supported ... opcode:6 / PRELU'"),
    Rule("unsupported-op", REFUSED, common.ops(*UNSUPPORTED_OPS),
         "{found} unsupported by ArmNN 20.08's TfLite parser",
         "corpus mixed_io: 'Operator not supported ... / CAST'; a Keras LayerNormalization "
         "(tests/test_first_day.py): '... opcode:c / SQUARED_DIFFERENCE'"),
    Rule("no-bias", REFUSED, lambda card: ", ".join(card.without_bias) or None,
         "a {found} layer has no bias (TensorFlow's converter drops an all-zero one) and ArmNN fails on the "
         "missing input; give the layer a tiny nonzero bias before converting",
         "a Keras MobileNetV2 (weights=None) on the local board: 'Failed to parse operator #63 ... "
         "operatorPtr->inputs[i] must be non-negative, received: -1'"),
    Rule("int64", REFUSED, common.tensor_type("int64"),
         "ArmNN 20.08's TfLite parser refuses {found} (int16x8 stores its biases as int64 biases); "
         "use int8 for ArmNN boards",
         "int16x8 variants of tiny-cnn: 'Unsupported data type = INT64'"),
    Rule("int8-fc-per-channel", REFUSED, common.per_channel_fc(quantized_input=True),
         "int8 FullyConnected with per-channel weights ({found}): CpuAcc refuses it and CpuRef aborts; "
         "quantize with per_tensor_dense=True (--per-tensor-dense)",
         "int8 variants with per-channel dense weights: 20.08's CpuAcc refused them and its CpuRef process aborted"),
    Rule("hybrid-layers", REFUSED, common.hybrid_layers,
         "hybrid layers (float activations with int8 weights, as dynamic range makes them: {found}) run on no "
         "ArmNN 20.08 backend; use int8 or fp32, or pyarmnn 23.08",
         "dynamic variants of tiny-cnn on CpuAcc and CpuRef: 'not supported on any preferred backend'"),
    Rule("op-code-new-field", REFUSED, lambda card: ", ".join(card.codes_in_new_field_only) or None,
         "{found} written only in the flatbuffer's new builtin_code field (ai-edge-quantizer does so for the "
         "QUANTIZE/DEQUANTIZE it adds); 20.08's TfLite parser reads the old field, where 0 means ADD; quantize with "
         "edgeq (it fills in both fields) or TensorFlow's converter",
         "advise's mixed digits variants from ai-edge-quantizer 0.10 on the local board: 'Failed to parse operator "
         "#5 within subgraph #0 error: inputs.size() = 1 is not valid, not in {2}. at function ParseAdd'"),
    Rule("int8-mean", PARTLY, _int8_mean,
         "int8 MEAN (GlobalAveragePooling) is not supported by CpuAcc and runs on CpuRef; use AveragePooling2D "
         "over the whole feature map instead",
         "int8 Keras MobileNet v1 variants: CpuAcc refused int8 MEAN, CpuRef ran it"),
), known_custom_ops=PARSER_CUSTOM_OPS)
