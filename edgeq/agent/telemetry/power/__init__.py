"""Power-source registry: one module per source in this package, each registering itself.

A source turns the board's power sensor into watts. It is opened once per job
(finding its device, starting its reader) and read once per sample, so the cost
per sample is one small read.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Dict, List, Optional

from .. import TelemetryError

Reading = Dict[str, Any]
"""`{"w": total watts}`, plus `"rails": {name: watts}` for sources that see several rails."""


class PowerSource:
    """An open power sensor."""

    def read(self) -> Optional[Reading]:
        """The latest reading, or None when the sensor gave none this time."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what `open` started (a reader process); reading afterwards is not allowed."""


Opener = Callable[[Dict[str, Any], str], PowerSource]
"""`open(config, root)`: config is the job's telemetry.power; root prefixes every path."""
_REGISTRY: Dict[str, Opener] = {}


def register(name: str) -> Callable[[Opener], Opener]:
    def decorate(opener: Opener) -> Opener:
        _REGISTRY[name] = opener
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


def check(name: object) -> Optional[str]:
    """Why `name` cannot be asked for, or None when it can."""
    _load_all()
    if name not in _REGISTRY:
        return f"unknown power source {name!r}. Choose from: {', '.join(names())}"
    return None


def open_source(config: Dict[str, Any], root: str) -> PowerSource:
    """Open the configured source; TelemetryError says why it cannot be read on this board."""
    problem = check(config.get("source"))
    if problem:
        raise TelemetryError(problem)
    return _REGISTRY[config["source"]](config, root)
