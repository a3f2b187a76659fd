"""TFLite on the CPU: XNNPACK on by default, thread count from the job."""

from __future__ import annotations

from typing import Any, Dict

from . import register
from .tflite_interpreter import (InterpreterSession, SignatureSession, import_runtime, load_custom_ops,
                                 make_interpreter, preload_runtime)


@register("tflite-cpu", preload=preload_runtime)
def open_cpu(model_path: str, options: Dict[str, Any], threads: int) -> InterpreterSession:
    runtime, module, version = import_runtime(str(options.get("runtime", "auto")))
    xnnpack = bool(options.get("xnnpack", True))
    registerers = list(options.get("custom_op_registerers") or [])
    if options.get("custom_op_library"):  # --custom-op-library, shipped into the run folder
        load_custom_ops(runtime, module, str(options["custom_op_library"]))
    interpreter = make_interpreter(module, model_path, threads, default_delegates=xnnpack, registerers=registerers)
    if options.get("signature"):  # a signature other than the model's first (`--signature`)
        return SignatureSession(interpreter, str(options["signature"]),
                                {"runtime": runtime, "runtime_version": version, "xnnpack": xnnpack, "threads": threads})
    return InterpreterSession(
        interpreter,
        {"runtime": runtime, "runtime_version": version, "xnnpack": xnnpack, "threads": threads},
    )
