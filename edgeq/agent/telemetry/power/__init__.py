"""Power-source registry: one module per source in this package, each registering itself.

A source turns the board's power sensor into watts. It is opened once per job
(finding its device, starting its reader) and read once per sample, so the cost
per sample is one small read.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from ...plugins import Registry
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
_SOURCES: Registry[Opener] = Registry(__name__, __path__, "power source")


def register(name: str) -> Callable[[Opener], Opener]:
    return _SOURCES.register(name)


def names() -> List[str]:
    return _SOURCES.names()


def check(name: object) -> Optional[str]:
    """Why `name` cannot be asked for, or None when it can."""
    return _SOURCES.unknown(name)


def open_source(config: Dict[str, Any], root: str) -> PowerSource:
    """Open the configured source; TelemetryError says why it cannot be read on this board."""
    problem = check(config.get("source"))
    if problem:
        raise TelemetryError(problem)
    return _SOURCES.get(config["source"])(config, root)
