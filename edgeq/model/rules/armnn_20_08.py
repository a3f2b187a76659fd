"""ArmNN 20.08 through pyarmnn 22.0.0's TfLiteParser (Debian bookworm's python3-pyarmnn).

Each rule names the error the parser gave; the corpus ones were seen on the local
board with edgeq/testing/oddmodels.py's models.
"""

from edgeq.model.rules import PARTLY, REFUSED, Rule, RuleTable
from edgeq.model.rules import common

# ArmNN's TfLite parser knows this one custom op (SSD's post-processing), no other.
PARSER_CUSTOM_OPS = frozenset({"TFLite_Detection_PostProcess"})
# Builtin ops the 20.08 parser was seen to refuse ("Operator not supported").
UNSUPPORTED_OPS = ("PRELU", "CAST", "SQUARED_DIFFERENCE")

TABLE = RuleTable("armnn", "pyarmnn", "20.08", (
    Rule("custom-op", REFUSED, common.custom_ops,
         "custom op {found} is unknown to ArmNN's TfLite parser",
         "issue #15: the parser refuses any custom op but TFLite_Detection_PostProcess", certain=True),
    Rule("one-subgraph", REFUSED, common.subgraphs_beyond_one,
         "ArmNN 20.08's TfLite parser reads only models with one subgraph; this one has {found}",
         "corpus two_signatures and while_loop: 'Current TfLite parser only supports 1 subgraph. Current one has: 2'"),
    Rule("dequantized-weights", REFUSED, common.dequantized_weights,
         "ArmNN 20.08 needs constant weights but these come from DEQUANTIZE ({found})",
         "12 of 14 published models and corpus fp16_dequantize: 'Buffer #0 has 0 bytes. For tensor: [24,5,5,3]' "
         "(fp16 weights through DEQUANTIZE, issue #15)"),
    Rule("buffers-after-flatbuffer", REFUSED, common.buffers_after,
         "ArmNN 20.08 cannot read weights stored after the flatbuffer (the layout of models over 2 GB)",
         "corpus buffers_after: 'Buffer #1 has 0 bytes. For tensor: [3,4] expecting: 48 bytes'"),
    Rule("unsupported-op", REFUSED, common.ops(*UNSUPPORTED_OPS),
         "{found} unsupported by ArmNN 20.08's TfLite parser",
         "issue #15 and corpus prelu/mixed_io: 'Operator not supported ... opcode:6 / PRELU', '... / CAST'; "
         "a Keras LayerNormalization (tests/test_first_day.py): '... opcode:c / SQUARED_DIFFERENCE'"),
    Rule("no-bias", REFUSED, lambda card: ", ".join(card.without_bias) or None,
         "a {found} layer has no bias (TensorFlow's converter drops an all-zero one) and ArmNN 20.08's parser "
         "needs it; give the layer a tiny nonzero bias before converting",
         "quantize/compat.py's dropped-bias rule; a Keras MobileNetV2 (weights=None) on the local board: "
         "'Failed to parse operator #63 ... operatorPtr->inputs[i] must be non-negative, received: -1'"),
    Rule("int64", REFUSED, common.tensor_type("int64"),
         "the model has int64 tensors, which ArmNN 20.08's parser refuses",
         "quantize/compat.py: 'Unsupported data type = INT64' (int16x8 biases)"),
    Rule("int8-mean", PARTLY, lambda card: None if "MEAN" not in card.ops or "int8" not in card.types else "MEAN",
         "int8 MEAN is not supported by CpuAcc and runs on CpuRef",
         "quantize/compat.py: CpuAcc refuses int8 MEAN (GlobalAveragePooling)"),
), known_custom_ops=PARSER_CUSTOM_OPS)
