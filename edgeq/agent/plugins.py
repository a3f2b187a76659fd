"""The agent's plug-in registries (backends, power sources): one module per plug-in, found
by listing the package, each registering itself with a decorator.

Plug-in modules import their runtime lazily, so listing them works on a board that has
none of the runtimes. Stdlib only, like the rest of the agent.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Dict, Generic, List, Optional, Sequence, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry(Generic[F]):
    def __init__(self, package: str, path: Sequence[str], kind: str) -> None:
        self._package, self._path, self.kind = package, list(path), kind
        self._entries: Dict[str, F] = {}
        self.meta: Dict[str, Dict[str, Any]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[F], F]:
        def decorate(factory: F) -> F:
            self._entries[name] = factory
            self.meta[name] = meta
            return factory

        return decorate

    def _load_all(self) -> None:
        if self._entries:
            return
        for module in pkgutil.iter_modules(self._path):
            importlib.import_module(f"{self._package}.{module.name}")

    def names(self) -> List[str]:
        self._load_all()
        return sorted(self._entries)

    def unknown(self, name: object) -> Optional[str]:
        """Why `name` is not one of ours ("Choose from: ..."), or None when it is."""
        if name in self.names():
            return None
        return f"unknown {self.kind} {name!r}. Choose from: {', '.join(self.names())}"

    def get(self, name: str) -> F:
        self._load_all()
        return self._entries[name]
