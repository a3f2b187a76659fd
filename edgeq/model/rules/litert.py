"""LiteRT (ai-edge-litert 2.x), CPU: the Interpreter with XNNPACK, the host's own runtime."""

from edgeq.model.rules import REFUSED, Rule, RuleTable
from edgeq.model.rules import common

# Custom ops the builtin op resolver registers itself (detection post-processing, audio front ends).
BUILTIN_CUSTOM_OPS = frozenset({"TFLite_Detection_PostProcess", "Mfcc", "AudioSpectrogram"})

TABLE = RuleTable("tflite-cpu", "ai_edge_litert", "2.x", (
    Rule("custom-op", REFUSED, common.custom_ops,
         "custom op {found} is not built into the runtime",
         "3 of 14 published vision models: 'RuntimeError: Encountered unresolved custom op: ...' "
         "when the Interpreter was made (issue #15)", certain=True),
), known_custom_ops=BUILTIN_CUSTOM_OPS)
