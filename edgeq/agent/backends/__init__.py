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
_BACKENDS: Registry[Opener] = Registry(__name__, __path__, "backend")


BOOL = (True, False)
"""The values of an on/off option (`xnnpack=false`, `fallback=no`)."""


def register(name: str, options: Sequence[str] = (),
             preload: Optional[Callable[[Dict[str, Any]], None]] = None,
             values: Optional[Dict[str, Sequence[Any]]] = None) -> Callable[[Opener], Opener]:
    """Register `open(model_path, options, threads) -> Session` under `name`.

    `values` lists the allowed values of the options that have a fixed set (a list value, as
    `backends=CpuAcc+CpuRef`, must hold allowed values only); the others take any text.

    `preload(options)` imports the runtime `open` will use, for the warm agent (warm.py) to
    hold before it forks a job; it never opens a model, a device or a thread.
    """
    return _BACKENDS.register(name, options=tuple(options), preload=preload, values=dict(values or {}))


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
    problem = _BACKENDS.unknown(name)
    if problem:
        return problem
    allowed = _BACKENDS.meta[name]["options"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        return f"backend '{name}' has no option '{unknown[0]}'. Choose from: {', '.join(allowed) or '(none)'}"
    for option, choices in _BACKENDS.meta[name].get("values", {}).items():
        if option not in options:
            continue
        given = options[option]
        items = given if isinstance(given, list) and all(isinstance(c, str) for c in choices) else [given]
        wrong = [v for v in items if isinstance(v, (list, dict)) or not any(_same(v, c) for c in choices)]
        if wrong or not items:
            words = ", ".join(_word(c) for c in choices)
            return f"backend '{name}' option {option}={_word(given)}: expected {'one of ' if len(choices) > 1 else ''}" \
                   f"{words}"
    return None


def _same(value: Any, choice: Any) -> bool:
    return type(value) is type(choice) and value == choice  # 1 is not True here


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "+".join(_word(v) for v in value)
    return str(value)


def open_session(name: str, model_path: str, options: Dict[str, Any], threads: int) -> Session:
    return _BACKENDS.get(name)(model_path, options, threads)
