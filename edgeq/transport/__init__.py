"""How the host talks to a board: run a command, put a file, get a file.

Callers hold a Transport and never care which one. Commands are argument lists,
never shell strings: an implementation that needs a shell quotes every word.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config.board_schema import Board


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class Transport(Protocol):
    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed: ...

    def put(self, local: Path, remote: str) -> None: ...

    def get(self, remote: str, local: Path) -> None: ...

    def exists(self, remote: str) -> bool: ...

    def expand(self, remote: str) -> str:
        """The board's absolute form of a path that may start with ~."""
        ...

    def close(self) -> None: ...


_REGISTRY: dict[str, Callable[["Board"], Transport]] = {}


def register(kind: str) -> Callable[[Callable[["Board"], Transport]], Callable[["Board"], Transport]]:
    def decorate(factory: Callable[["Board"], Transport]) -> Callable[["Board"], Transport]:
        _REGISTRY[kind] = factory
        return factory

    return decorate


def connect(board: "Board") -> Transport:
    from . import local  # noqa: F401  (registers itself)

    kind = board.connection.kind
    if kind not in _REGISTRY:
        raise ConfigError(
            f"board {board.name}: no transport for connection kind '{kind}'. Choose from: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[kind](board)
