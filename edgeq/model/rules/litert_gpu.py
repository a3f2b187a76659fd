"""LiteRT's GPU accelerator (CompiledModel, OpenCL/Vulkan), as edgeq's tflite-gpu backend uses it."""

from edgeq.model.rules import PARTLY, REFUSED, Rule, RuleTable
from edgeq.model.rules import common
from edgeq.model.rules.litert import BUILTIN_CUSTOM_OPS

# The numpy dtypes ai_edge_litert 2.3's TensorBuffer takes (tensor_buffer.py's table).
BUFFER_DTYPES = ("float32", "float16", "int32", "int8", "uint8", "bool")
# Builtin ops seen left to the CPU by the accelerator (Vulkan on lavapipe, ai-edge-litert 2.3).
CPU_ONLY_OPS = ("L2_NORMALIZATION",)

TABLE = RuleTable("tflite-gpu", "litert-gpu", "2.x", (
    Rule("custom-op", REFUSED, common.custom_ops,
         "custom op {found}: the CPU part of the model cannot run it either",
         "'Encountered unresolved custom op' when the model is compiled (issue #15)", certain=True),
    Rule("io-dtype", REFUSED, common.io_outside(BUFFER_DTYPES),
         "LiteRT's tensor buffers cannot hold {found}",
         "corpus mixed_io: 'ValueError: Unsupported dtype: int16' from ai_edge_litert's TensorBuffer"),
    Rule("cpu-only-op", PARTLY, common.ops(*CPU_ONLY_OPS),
         "{found} is not delegated to the GPU and runs on the CPU",
         "zoo tiny-cnn-fallback, float32 and int8, on lavapipe: is_fully_accelerated() is False and the log's "
         "coverage names L2_NORMALIZATION (tests/test_gpu.py)"),
    Rule("control-flow", PARTLY, common.control_flow,
         "{found} is not delegated to the GPU; those subgraphs run on the CPU",
         "corpus while_loop: coverage shows the WHILE node left to the CPU"),
), known_custom_ops=BUILTIN_CUSTOM_OPS)
