"""Backend registry: one module per backend in this package, each registering itself.

A backend turns a model file into a Session. The runtime it needs is imported
inside `open`, never at module import, so that listing backends works on a
board that has none of the runtimes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

if TYPE_CHECKING:  # numpy is imported where arrays are made: validating a job never pays for it
    import numpy as np

from ..plugins import Registry
from ..wire import BACKEND_OPTIONS, backend_problem


class BackendUnavailable(Exception):
    """The runtime this backend needs is missing or cannot start; the message says what to install."""


class Session:
    """A model loaded on one backend, with its inputs set, ready to be timed."""

    untimed_ms: float = 0.0
    """Milliseconds of opening it that were edgeq's own work, not the runtime's (left out of load_ms)."""

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
_BACKENDS: Registry[Opener] = Registry(__name__, __path__, "backend")


def register(name: str, preload: Optional[Callable[[Dict[str, Any]], None]] = None) -> Callable[[Opener], Opener]:
    """Register `open(model_path, options, threads) -> Session` under `name`.

    The name, its options and their allowed values are contract data (wire.BACKEND_OPTIONS): the
    host checks a request against the same table before anything is sent.

    `preload(options)` imports the runtime `open` will use, for the warm agent (warm.py) to
    hold before it forks a job; it never opens a model, a device or a thread.
    """
    if name not in BACKEND_OPTIONS:
        raise RuntimeError(f"backend {name!r} is not in wire.BACKEND_OPTIONS: add it there too")
    return _BACKENDS.register(name, preload=preload)


def preload(name: str, options: Dict[str, Any]) -> None:
    """Import what backend `name` will need, if it says; a runtime that fails to import here is
    left for its child to report (the child imports it again and fails with the hint)."""
    if _BACKENDS.unknown(name):
        return
    loader = _BACKENDS.meta[name].get("preload")
    if loader is not None:
        try:
            loader(options)
        except Exception:  # noqa: BLE001  (the child reports it, with its install hint)
            pass


def names() -> List[str]:
    return _BACKENDS.names()


def check(name: str, options: Dict[str, Any]) -> Optional[str]:
    """Why `name` with `options` cannot be asked for, or None when it can."""
    return _BACKENDS.unknown(name) or backend_problem(name, options)


def open_session(name: str, model_path: str, options: Dict[str, Any], threads: int) -> Session:
    return _BACKENDS.get(name)(model_path, options, threads)
