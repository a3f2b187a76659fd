"""ArmNN 23.08 through pyarmnn 23.08's TfLiteParser (Debian trixie's python3-pyarmnn, reports 33.0.0).

Measured on the emulated trixie board (qemu-aarch64-trixie, CpuAcc and CpuRef) with small
Keras models quantized by `edgeq quantize` (docs/emulate.md, "Two OS generations"). 23.08
lifts three of 20.08's refusals: PRELU, weights behind DEQUANTIZE (fp16) and hybrid
(dynamic-range) layers all load and run there, so they are not in this table.
"""

from edgeq.model.rules import REFUSED, Rule, RuleTable
from edgeq.model.rules import common

# The parser's one custom op, as in 20.08 (carried over, not re-measured).
PARSER_CUSTOM_OPS = frozenset({"TFLite_Detection_PostProcess"})


def _int16_activations(card) -> str | None:  # noqa: ANN001 - a ModelCard
    return "int16 activations (int16x8)" if "int16" in card.types or "int64" in card.types else None


TABLE = RuleTable("armnn", "pyarmnn", "23.08", (
    Rule("custom-op", REFUSED, common.custom_ops,
         "custom op {found} is unknown to ArmNN's TfLite parser",
         "as 20.08 (the parser knows TFLite_Detection_PostProcess only); not re-measured on 23.08", certain=True),
    Rule("int8-fc-per-channel", REFUSED, common.per_channel_fc(quantized_input=True),
         "int8 FullyConnected with per-channel weights ({found}): no ArmNN 23.08 backend takes it; quantize "
         "with per_tensor_dense=True (--per-tensor-dense)",
         "qemu-aarch64-trixie, int8 variants with per-channel dense weights on CpuAcc and CpuRef: "
         "'Failed to assign a backend to each layer'"),
    Rule("int16x8", REFUSED, _int16_activations,
         "ArmNN 23.08 parses int16x8 models but neither CpuAcc nor CpuRef takes their layers ({found})",
         "qemu-aarch64-trixie, an int16x8 Conv/Dense model on CpuAcc and CpuRef: "
         "'Failed to assign a backend to each layer'"),
), known_custom_ops=PARSER_CUSTOM_OPS)
