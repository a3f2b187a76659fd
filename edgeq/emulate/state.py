"""Where an emulated board keeps its files, and the record of what `up` changed.

The state file is rewritten after every single change `up` makes (a mount, a
binfmt entry, the sshd pid), so `down` can undo a half-finished `up` even when
that `up` ran in another process that was killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DIR_ENV = "EDGEQ_EMULATE_DIR"
"""Parent folder of the per-board folders; default $XDG_CACHE_HOME/edgeq/emulate."""

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot of the host's kernel: kernel state a record claims (binfmt_misc) is void after a reboot."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def emulate_dir(name: str) -> Path:
    base = os.environ.get(DIR_ENV)
    if base:
        root = Path(base).expanduser()
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(cache).expanduser() / "edgeq" / "emulate"
    return root / name


def state_path(name: str) -> Path:
    return emulate_dir(name) / "state.json"


def load(name: str) -> dict[str, Any]:
    try:
        return json.loads(state_path(name).read_text())
    except FileNotFoundError:
        return {}


def save(name: str, state: dict[str, Any]) -> None:
    path = state_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def clear(name: str) -> None:
    state_path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """One `up` or `down` per board at a time, across processes."""
    folder = emulate_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
