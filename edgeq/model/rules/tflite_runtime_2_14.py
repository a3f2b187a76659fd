"""tflite-runtime 2.14 (the Interpreter wheel of Raspberry Pi OS bookworm boards), CPU."""

from edgeq.model.rules import REFUSED, Rule, RuleTable
from edgeq.model.rules import common
from edgeq.model.rules.litert import BUILTIN_CUSTOM_OPS

TABLE = RuleTable("tflite-cpu", "tflite_runtime", "2.14", (
    Rule("custom-op", REFUSED, common.custom_ops,
         "custom op {found} is not built into the runtime",
         "'RuntimeError: Encountered unresolved custom op' as with LiteRT (issue #15)", certain=True),
    Rule("int4", REFUSED, common.tensor_type("int4"),
         "int4 weights cannot be loaded by tflite-runtime 2.14",
         "quantize/compat.py: int4 variants failed to load on tflite-runtime 2.14"),
), known_custom_ops=BUILTIN_CUSTOM_OPS)
