"""The `local` board: the host itself, through subprocess and plain file copies."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from edgeq.errors import BoardError, TransportError
from edgeq.link.transport import Closing, Completed, Progress, no_space, register


def _make_private_dirs(folder: Path) -> None:
    """Like mkdir -p, but every folder it creates is owner-only (mkdir's mode skips parents)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700)


class LocalTransport(Closing):
    def __init__(self) -> None:
        self.bytes_sent = 0

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed:
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TransportError(f"command timed out after {timeout:g} s: {argv[0]}") from None
        except OSError as exc:
            raise TransportError(f"cannot start {argv[0]}: {exc.strerror}") from None
        return Completed(done.returncode, done.stdout, done.stderr)

    def put(self, local: Path, remote: str, progress: Progress | None = None) -> None:
        """Copy under a temporary name, then rename: a reader never sees half a file."""
        target = Path(remote)
        tmp = target.with_name(f".{target.name}.part{secrets.token_hex(4)}")  # per call: a fleet's threads share a pid
        try:
            _make_private_dirs(target.parent)
            shutil.copyfile(local, tmp)
            size = tmp.stat().st_size
            self.bytes_sent += size
            if progress:
                progress(size, size)
            os.chmod(tmp, 0o600 if not os.access(local, os.X_OK) else 0o700)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                free = shutil.disk_usage(target.parent).free if target.parent.is_dir() else 0
                raise BoardError(no_space("this host", local, str(target.parent), free)) from None
            raise TransportError(f"cannot write {target}: {exc.strerror}") from None

    def get(self, remote: str, local: Path) -> None:
        try:
            shutil.copyfile(remote, local)
        except OSError as exc:
            raise TransportError(f"cannot read {remote}: {exc.strerror}") from None

    def read(self, remote: str, limit: int = 1 << 20) -> bytes | None:
        try:
            with open(remote, "rb") as handle:
                return handle.read(limit)
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return None

    def exists(self, remote: str) -> bool:
        return os.path.exists(remote)

    def expand(self, remote: str) -> str:
        return os.path.abspath(os.path.expanduser(remote))

    def close(self) -> None:
        return None


@register("local")
def _local(board: object) -> LocalTransport:
    return LocalTransport()
