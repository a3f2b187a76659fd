"""Backend registry: one module per backend in this package, each registering itself.

A backend turns a model file into a Session. The runtime it needs is imported
inside `open`, never at module import, so that listing backends works on a
board that has none of the runtimes.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np


class BackendUnavailable(Exception):
    """The runtime this backend needs is missing or cannot start; the message says what to install."""


class Session:
    """A model loaded on one backend, with its inputs set, ready to be timed."""

    def set_inputs(self, arrays: Sequence[np.ndarray]) -> None:
        raise NotImplementedError

    def step(self) -> object:
        """One timed iteration. For asynchronous runtimes it includes reading the outputs back."""
        raise NotImplementedError

    def outputs(self) -> List[np.ndarray]:
        raise NotImplementedError

    def info(self) -> Dict[str, Any]:
        """What ran: runtime name and version, delegation, the options that took effect."""
        raise NotImplementedError

    def layer_profile(self) -> Optional[Dict[str, Any]]:
        """Per-layer times from the runtime's own profiler, or None where it has none."""
        return None


Opener = Callable[[str, Dict[str, Any], int], Session]
_REGISTRY: Dict[str, Opener] = {}
_OPTIONS: Dict[str, Sequence[str]] = {}


def register(name: str, options: Sequence[str] = ()) -> Callable[[Opener], Opener]:
    """Register `open(model_path, options, threads) -> Session` under `name`."""

    def decorate(opener: Opener) -> Opener:
        _REGISTRY[name] = opener
        _OPTIONS[name] = tuple(options)
        return opener

    return decorate


def _load_all() -> None:
    if _REGISTRY:
        return
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def names() -> List[str]:
    _load_all()
    return sorted(_REGISTRY)


def check(name: str, options: Dict[str, Any]) -> Optional[str]:
    """Why `name` with `options` cannot be asked for, or None when it can."""
    _load_all()
    if name not in _REGISTRY:
        return f"unknown backend '{name}'. Choose from: {', '.join(names())}"
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        valid = ", ".join(_OPTIONS[name]) or "(none)"
        return f"backend '{name}' has no option '{unknown[0]}'. Choose from: {valid}"
    return None


def open_session(name: str, model_path: str, options: Dict[str, Any], threads: int) -> Session:
    _load_all()
    return _REGISTRY[name](model_path, options, threads)
