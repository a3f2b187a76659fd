"""How the host talks to a board: run a command, put a file, get a file.

Callers hold a Transport and never care which one. Commands are argument lists,
never shell strings: an implementation that needs a shell quotes every word.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, TypeVar

from edgeq.errors import ConfigError

if TYPE_CHECKING:
    from edgeq.boards.schema import Board


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


_T = TypeVar("_T")

def no_space(where: str, local: Path, folder: str, free: int) -> str:
    """The one message for an upload that met a full disk, on any transport."""
    size = local.stat().st_size if local.exists() else 0
    return (f"{where}: no space left on the disk of {folder} for {local.name} ({free / 2**20:.1f} MB free, "
            f"it needs {size / 2**20:.1f} MB); free some space there (old runs: keep_runs in the board's record)")


Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while a file is sent."""


class Transport(Protocol):
    bytes_sent: int
    """Payload bytes put() has sent so far; deploy reports it and tests check it."""

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed: ...

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None:
        """Send under a temporary name in the same folder, then rename: never half a file."""
        ...

    def get(self, remote: str, local: Path) -> None: ...

    def read(self, remote: str, limit: int = 1 << 20) -> bytes | None:
        """A small file's bytes, or None when it is absent: cheap enough to poll."""
        ...

    def exists(self, remote: str) -> bool: ...

    def expand(self, remote: str) -> str:
        """The board's absolute form of a path that may start with ~."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "Transport": ...

    def __exit__(self, *exc: object) -> None: ...


class Closing:
    """Makes a transport a context manager: `with connect(board) as transport:` closes it however
    the block ends. Every transport inherits it."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


_REGISTRY: dict[str, Callable[["Board"], Transport]] = {}


def register(kind: str) -> Callable[[Callable[["Board"], Transport]], Callable[["Board"], Transport]]:
    def decorate(factory: Callable[["Board"], Transport]) -> Callable[["Board"], Transport]:
        _REGISTRY[kind] = factory
        return factory

    return decorate


def connect(board: "Board", *, accept_new_host_key: bool = False) -> Transport:
    """The transport for `board`, connected. `accept_new_host_key` matters to ssh only.

    The ssh module is imported here, and only for an ssh board: paramiko is slow to import.
    """
    from edgeq.link.transport import local  # noqa: F401  (registers itself)

    kind = board.connection.kind
    if kind in ("ssh", "labgrid"):
        try:
            from edgeq.link.transport import ssh  # noqa: F401  (registers itself)
            if kind == "labgrid":
                from edgeq.link.transport import farm  # noqa: F401  (registers itself)
        except ImportError as exc:
            if (exc.name or "").split(".")[0] not in ("paramiko", "fabric", "invoke"):
                raise
            needs = f"board {board.name}: the ssh transport needs {exc.name}"
            raise ConfigError(f"{needs}, a dependency of edgeq; reinstall it: pip install edgeq") from None
    if kind not in _REGISTRY:
        choices = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"board {board.name}: no transport for connection kind '{kind}'. Choose from: {choices}")
    if kind in ("ssh", "labgrid"):
        factory: Callable[..., Transport] = _REGISTRY[kind]
        return factory(board, accept_new_host_key=accept_new_host_key)
    return _REGISTRY[kind](board)
