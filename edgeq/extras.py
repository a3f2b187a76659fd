"""Optional extras: say which one is missing, in one line, before any work starts.

A command that needs TensorFlow and finds it missing after creating an output folder,
or after a recipe planned 33 cells, wastes the user's time and leaves debris. Each
command asks `require()` first; `edgeq run --dry-run` lists what the run will need with
`needs()`. Modules are looked up with importlib's finder, which does not import them
(TensorFlow alone takes seconds to import).
"""

from __future__ import annotations

import importlib.util

from edgeq.errors import ConfigError

__all__ = ["EXTRAS", "missing", "needs_text", "require"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "quantize": ("tensorflow", "tf_keras", "tensorflow_model_optimization", "ai_edge_quantizer", "sklearn"),
    "runtimes": ("tflite_runtime",),
    "farm": ("labgrid",),
}
"""Extra name (as in pyproject.toml) -> the modules it brings."""

PACKAGE_MODULE = {
    "ai-edge-quantizer": "ai_edge_quantizer",
    "tensorflow": "tensorflow",
    "tensorflow-model-optimization": "tensorflow_model_optimization",
    "tf-keras": "tf_keras",
    "scikit-learn": "sklearn",
}
"""Distribution name (what engines record) -> its import name."""


def extra_of(module: str) -> str:
    for extra, modules in EXTRAS.items():
        if module in modules:
            return extra
    raise KeyError(module)


def missing(modules: tuple[str, ...] | list[str]) -> list[str]:
    """The modules of `modules` that cannot be imported here."""
    absent = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent.append(module)
    return absent


def needs_text(modules: list[str]) -> str:
    """`tensorflow, tf_keras (pip install 'edgeq[quantize]')` for the missing ones."""
    extras = sorted({extra_of(m) for m in modules})
    hint = " ".join(f"'edgeq[{e}]'" for e in extras)
    return f"{', '.join(modules)} (pip install {hint})"


def require(what: str, modules: tuple[str, ...] | list[str]) -> None:
    """Raise one ConfigError line naming the extra if any of `modules` is missing."""
    absent = missing(modules)
    if absent:
        raise ConfigError(f"{what} needs {needs_text(absent)}")
