"""TFLite on the GPU.

Two routes, as boards have them: a classic GPU delegate library named by the
board (OpenCL on Mali), loaded with load_delegate; otherwise LiteRT's GPU
accelerator (CompiledModel with HardwareAccelerator.GPU, over Vulkan/WebGPU or
OpenCL). GPU runs can be asynchronous, so one timed step always includes
reading every output back to host memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Sequence

if TYPE_CHECKING:  # numpy is imported where arrays are made: validating a job never pays for it
    import numpy as np

from .. import native
from . import BackendUnavailable, Session, register
from .tflite_interpreter import InterpreterSession, import_runtime, load_delegate, make_interpreter, preload_runtime

_LITERT_HINT = "pip install ai-edge-litert (its GPU accelerator needs a Vulkan or OpenCL driver)"


class _ReadBackInterpreterSession(InterpreterSession):
    def __init__(self, interpreter: Any, info: Dict[str, Any]) -> None:
        super().__init__(interpreter, info)
        invoke, get = interpreter.invoke, interpreter.get_tensor
        outputs = list(self._outputs)

        def step() -> None:
            invoke()
            for index in outputs:
                get(index)

        self.step = step  # type: ignore[method-assign]


class CompiledModelSession(Session):
    """A LiteRT CompiledModel on the GPU accelerator, CPU fallback allowed unless refused."""

    def __init__(self, model: Any, info: Dict[str, Any]) -> None:
        self._model = model
        signature = model.get_signature_by_index(0) if model.get_num_signatures() else None
        if signature is None:
            raise BackendUnavailable("LiteRT's GPU accelerator needs a model with a signature")
        self._key = model.get_signature_list() and list(model.get_signature_list())[0]
        self._info = info
        self._bind()

    def _bind(self) -> None:
        """Buffers sized to the model's current input shapes, and the timed step over them."""
        import numpy as np

        model = self._model
        details = model.get_output_tensor_details(self._key)
        self._out_specs = [
            (int(np.prod(d["shape"])), np.dtype(d["dtype"]), tuple(d["shape"])) for d in details.values()
        ]
        self._in = model.create_input_buffers(0)
        self._out = model.create_output_buffers(0)
        run, ins, outs, specs = model.run_by_index, self._in, self._out, self._out_specs

        def step() -> List[np.ndarray]:
            run(0, ins, outs)
            return [buf.read(n, dtype) for buf, (n, dtype, _) in zip(outs, specs)]

        self.step = step  # type: ignore[method-assign]

    def set_inputs(self, arrays: Sequence[np.ndarray]) -> None:
        """Inputs of another shape than the model's (a dynamic dim given by --input-shape) resize it first:
        LiteRT re-plans the GPU graph for the new shape (seen on lavapipe: still fully accelerated)."""
        import numpy as np

        stored = [tuple(d["shape"]) for d in self._model.get_input_tensor_details(self._key).values()]
        changed = [(i, a.shape) for i, (shape, a) in enumerate(zip(stored, arrays)) if shape != tuple(a.shape)]
        for index, shape in changed:
            self._model.resize_input_tensor(index, list(shape), 0, strict=True)
        if changed:
            self._bind()
            self._info = dict(self._info, fully_accelerated=bool(self._model.is_fully_accelerated()))
        for buf, array in zip(self._in, arrays):
            buf.write(np.ascontiguousarray(array))

    def outputs(self) -> List[np.ndarray]:
        import numpy as np

        raw = self.step()
        return [np.asarray(a).reshape(shape) for a, (_, _, shape) in zip(raw, self._out_specs)]

    def info(self) -> Dict[str, Any]:
        return dict(self._info)


_VULKAN_HINT = (
    "LiteRT's GPU accelerator runs over Vulkan here and found no Vulkan loader (libvulkan.so.1): "
    "apt-get install libvulkan1 and a driver (for software rendering, mesa-vulkan-drivers >= 25 from "
    "bookworm-backports gives lavapipe), or name an OpenCL GPU delegate in the board record (libraries.gpu_delegate)"
)


def _has_vulkan_loader() -> bool:
    import ctypes

    try:
        ctypes.CDLL("libvulkan.so.1")
    except OSError:
        return False
    return True


def _open_compiled(model_path: str, fallback: bool) -> CompiledModelSession:
    if not _has_vulkan_loader():
        raise BackendUnavailable(_VULKAN_HINT)
    try:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from importlib import metadata
    except ImportError as exc:
        raise BackendUnavailable(f"ai_edge_litert is not installed ({exc}); {_LITERT_HINT}") from None
    accel = HardwareAccelerator.GPU | HardwareAccelerator.CPU if fallback else HardwareAccelerator.GPU
    try:
        model = CompiledModel.from_file(model_path, hardware_accel=accel)
    except Exception as exc:  # the wrapper raises RuntimeError or its own status errors
        raise BackendUnavailable(f"LiteRT's GPU accelerator could not compile the model: {exc}") from None
    info = {
        "runtime": "ai_edge_litert",
        "runtime_version": metadata.version("ai-edge-litert"),
        "accelerator": "litert-gpu",
        "fully_accelerated": bool(model.is_fully_accelerated()),
        "cpu_fallback_allowed": fallback,
    }
    return CompiledModelSession(model, info)


def _preload(options: Dict[str, Any]) -> None:
    preload_runtime(options)
    if not options.get("delegate_library"):
        import ai_edge_litert.compiled_model  # noqa: F401  (LiteRT's GPU accelerator route)


@register("tflite-gpu", preload=_preload)
def open_gpu(model_path: str, options: Dict[str, Any], threads: int) -> Session:
    library = options.get("delegate_library") or native.find("lib/libtensorflowlite_gpu_delegate.so")
    if not library:
        return _open_compiled(model_path, bool(options.get("fallback", True)))
    runtime, module, version = import_runtime(str(options.get("runtime", "auto")))
    delegate = load_delegate(module, str(library))
    interpreter = make_interpreter(module, model_path, threads, delegates=[delegate])
    info = {
        "runtime": runtime,
        "runtime_version": version,
        "accelerator": "gpu-delegate",
        "delegate_library": library,
        "threads": threads,
    }
    return _ReadBackInterpreterSession(interpreter, info)
