"""Report formats: one module per format registers its renderer here.

Callers ask for a format by name; an unknown name gets the list of known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeq.errors import ConfigError

from .data import ReportData

Renderer = Callable[[ReportData], str]


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    render: Renderer


_FORMATS: dict[str, Format] = {}


def register(name: str, suffix: str) -> Callable[[Renderer], Renderer]:
    """Decorator: make `render(data) -> text` the renderer of format `name`, written to `*.suffix`."""
    def add(render: Renderer) -> Renderer:
        _FORMATS[name] = Format(name, suffix, render)
        return render
    return add


def get(name: str) -> Format:
    if name not in _FORMATS:
        raise ConfigError(f"unknown report format {name!r}. Choose from: {', '.join(sorted(_FORMATS))}")
    return _FORMATS[name]


def by_suffix(suffix: str) -> Format | None:
    """The format a file name asks for (report.md -> md), or None."""
    return next((f for f in _FORMATS.values() if f.suffix == suffix.lstrip(".").lower()), None)
