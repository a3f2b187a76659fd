"""edgeq: quantize models, push them to ARM boards, measure how they run there.

`import edgeq` is cheap; the API (edgeq/api.py, docs/api.md) loads on first use:

    import edgeq
    run = edgeq.profile("model.tflite", board="local", backends="tflite-cpu", runs=20)
    run.to_dataframe()

`edgeq.profile`, `edgeq.deploy`, `edgeq.quantize` and `edgeq.report` are also the names of
edgeq's own packages (edgeq/profile/, ...); those packages are callable and call the API
function of the same name, so both `edgeq.profile(...)` and `edgeq.profile.run` work
whichever was imported first.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

API = ("analyze", "compare", "inspect", "list_boards", "load_board", "load_run", "run_recipe", "RunResult",
       "PathLike")
CALLABLE_PACKAGES = ("profile", "deploy", "quantize", "report")
__all__ = [*CALLABLE_PACKAGES, *API, "errors", "__version__"]


class _CallablePackage(types.ModuleType):
    """A package that is also the API function of its name (see the module docstring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from edgeq import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Called by the packages in CALLABLE_PACKAGES from their own __init__."""
    sys.modules[module_name].__class__ = _CallablePackage


def __getattr__(name: str) -> Any:
    if name in API:
        return getattr(importlib.import_module("edgeq.api"), name)
    if name in CALLABLE_PACKAGES or name == "errors":
        return importlib.import_module(f"edgeq.{name}")
    raise AttributeError(f"module 'edgeq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
