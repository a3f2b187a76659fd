"""Finding a TFLite Interpreter on this board, and a Session around one.

Shared by the backends that drive the classic Interpreter API: the CPU path and
the delegate paths (GPU delegate, ArmNN delegate).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # numpy is imported where arrays are made: validating a job never pays for it
    import numpy as np

from . import BackendUnavailable, Session
from ..wire import ELF_MACHINES, elf_machine

# Preference order when the job says runtime=auto.
RUNTIMES: Dict[str, Tuple[str, str, str]] = {
    # name: (module holding Interpreter, distribution for the version, install hint)
    "ai_edge_litert": ("ai_edge_litert.interpreter", "ai-edge-litert", "pip install ai-edge-litert"),
    "tflite_runtime": (
        "tflite_runtime.interpreter",
        "tflite-runtime",
        "pip install tflite-runtime (it needs numpy<2 and Python <= 3.11)",
    ),
    "tensorflow": ("tensorflow.lite", "tensorflow", "pip install tensorflow"),
}


def _version(distribution: str, module: Any) -> str:
    try:
        from importlib import metadata

        return metadata.version(distribution)
    except Exception:  # a runtime vendored without metadata still runs
        return str(getattr(module, "__version__", "unknown"))


def import_runtime(choice: str = "auto") -> Tuple[str, Any, str]:
    """Return (runtime name, interpreter module, version) for `choice` or the first that imports."""
    if choice != "auto" and choice not in RUNTIMES:
        raise BackendUnavailable(f"unknown TFLite runtime '{choice}'. Choose from: auto, {', '.join(RUNTIMES)}")
    candidates = list(RUNTIMES) if choice == "auto" else [choice]
    failures: List[str] = []
    for name in candidates:
        module_name, distribution, _ = RUNTIMES[name]
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # ImportError, or a broken native library
            failures.append(f"{name}: {exc}")
            continue
        if name == "tensorflow":
            module = module.experimental if not hasattr(module, "Interpreter") else module
        return name, module, _version(distribution, module)
    hints = "; or ".join(RUNTIMES[n][2] for n in candidates)
    raise BackendUnavailable(f"no TFLite runtime found on this board ({' | '.join(failures)}); install one: {hints}")


def preload_runtime(options: Dict[str, Any]) -> None:
    """Import the interpreter module `import_runtime` would pick, but never TensorFlow itself:
    a warm agent holding TensorFlow would keep hundreds of MB for the rare board that has only it."""
    choice = str(options.get("runtime", "auto"))
    if choice == "auto":
        for name in ("ai_edge_litert", "tflite_runtime"):
            try:
                importlib.import_module(RUNTIMES[name][0])
                return
            except Exception:  # noqa: BLE001  (the next one, or the child's own error)
                continue
    elif choice in RUNTIMES and choice != "tensorflow":
        importlib.import_module(RUNTIMES[choice][0])


def load_delegate(module: Any, library: str, options: Optional[Dict[str, str]] = None) -> Any:
    loader = getattr(module, "load_delegate", None)
    if loader is None:
        raise BackendUnavailable("this TFLite runtime cannot load external delegates")
    try:
        return loader(library, options or {})
    except (ValueError, OSError, RuntimeError) as exc:
        raise BackendUnavailable(f"could not load delegate {library}: {exc}") from None


CUSTOM_OPS_RUNTIMES = ("tflite_runtime",)
NO_CUSTOM_OPS = {
    "ai_edge_litert": "ai-edge-litert 2.3 cannot take a custom op library: its interpreter module exports only "
                      "its Python init, no AddCustom for a library's registerer to call; use runtime=tflite_runtime",
}


def load_custom_ops(runtime: str, module: Any, library: str) -> None:
    """Load a custom op library so that the Interpreter's `custom_op_registerers` finds its registerers.

    The Interpreter looks a registerer up by name in the process's global symbols, and the
    registerer calls tflite::MutableOpResolver::AddCustom, which only tflite-runtime's wrapper
    exports. Python loaded that wrapper privately (RTLD_LOCAL), so it is promoted to global first
    (RTLD_NOLOAD: the already loaded copy), then the library is loaded globally."""
    import ctypes
    import os
    import platform

    if runtime not in CUSTOM_OPS_RUNTIMES:
        raise BackendUnavailable(NO_CUSTOM_OPS.get(runtime, f"{runtime} cannot take a custom op library"))
    if not os.path.isfile(library):
        raise RuntimeError(f"custom op library {library} is not on the board")
    built_for, machine = elf_machine(library), platform.machine()
    if built_for and machine in ELF_MACHINES.values() and built_for != machine:
        raise RuntimeError(f"the custom op library is built for {built_for}, this board is {machine}")
    wrapper = getattr(module, "_interpreter_wrapper", None)
    try:
        ctypes.CDLL(wrapper.__file__, mode=ctypes.RTLD_GLOBAL | getattr(os, "RTLD_NOLOAD", 4))
        ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
    except (OSError, AttributeError) as exc:
        raise RuntimeError(f"could not load custom op library {library}: {exc}") from None


def make_interpreter(
    module: Any, model_path: str, threads: int, delegates: Sequence[Any] = (), default_delegates: bool = True,
    registerers: Sequence[str] = (),
) -> Any:
    """`registerers`: functions of a custom op library already loaded (load_custom_ops), by name."""
    kwargs: Dict[str, Any] = {"model_path": model_path, "num_threads": threads}
    if delegates:
        kwargs["experimental_delegates"] = list(delegates)
    if not default_delegates:
        kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        if registerers:
            return module.InterpreterWithCustomOps(custom_op_registerers=list(registerers), **kwargs)
        return module.Interpreter(**kwargs)
    except ValueError as exc:
        raise RuntimeError(f"the runtime refused the model: {exc}") from None


class InterpreterSession(Session):
    """Interpreter with tensors allocated; `step` is the bound `invoke`, nothing more."""

    def __init__(self, interpreter: Any, info: Dict[str, Any]) -> None:
        interpreter.allocate_tensors()
        self._interpreter = interpreter
        self._inputs = [d["index"] for d in interpreter.get_input_details()]
        self._outputs = [d["index"] for d in interpreter.get_output_details()]
        self._info = info
        self.step = interpreter.invoke  # type: ignore[method-assign]

    def set_inputs(self, arrays: Sequence[np.ndarray]) -> None:
        """Inputs of another shape than the model's (a dynamic dim given by the host) resize it first."""
        details = self._interpreter.get_input_details()
        changed = [(d["index"], a.shape) for d, a in zip(details, arrays) if tuple(d["shape"]) != tuple(a.shape)]
        if changed:
            for index, shape in changed:
                self._interpreter.resize_tensor_input(index, list(shape), strict=True)
            self._interpreter.allocate_tensors()
        for index, array in zip(self._inputs, arrays):
            self._interpreter.set_tensor(index, array)

    def outputs(self) -> List[np.ndarray]:
        import numpy as np

        return [np.array(self._interpreter.get_tensor(i)) for i in self._outputs]

    def info(self) -> Dict[str, Any]:
        return dict(self._info)


class SignatureSession(Session):
    """One signature of a model with several, through the Interpreter's SignatureRunner.

    Inputs and outputs go by name, sorted (the host sorts them alike); each timed run is the
    runner's call, which copies the inputs in and the outputs out: a little more than `invoke`.
    """

    def __init__(self, interpreter: Any, key: str, info: Dict[str, Any]) -> None:
        try:
            runner = interpreter.get_signature_runner(key)
        except ValueError as exc:
            raise RuntimeError(f"the model has no signature {key!r}: {exc}") from None
        self._names = sorted(runner.get_input_details())
        self._out_names = sorted(runner.get_output_details())
        self._feeds: Dict[str, Any] = {}
        self._last: Dict[str, Any] = {}
        self._info = dict(info, signature=key)

        def step() -> Dict[str, Any]:
            self._last = runner(**self._feeds)
            return self._last

        self.step = step  # type: ignore[method-assign]

    def set_inputs(self, arrays: Sequence[np.ndarray]) -> None:
        self._feeds = dict(zip(self._names, arrays))

    def outputs(self) -> List[np.ndarray]:
        import numpy as np

        if not self._last:
            self.step()
        return [np.array(self._last[name]) for name in self._out_names]

    def info(self) -> Dict[str, Any]:
        return dict(self._info)
