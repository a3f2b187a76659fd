"""Where a command may write its output: never over what it reads, never into a run's own files.

`edgeq report runs -o runs/X/result.json` once replaced a run's result with Markdown and
exited 0; the CLI (`-o`) and the Python API (`out=`) both ask here first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from edgeq.errors import ConfigError

RUN_FILES = ("result.json", "job.json", "resume.json", "inputs.npz")
"""What a run directory is made of (a folder holding result.json or job.json)."""


def refuse_overwriting_inputs(out: str | Path | None, reads: Iterable[str | Path], what: str = "-o") -> None:
    """ConfigError when `out` is one of the files the command reads, or a file of a run directory."""
    if out is None or str(out) == "-":
        return
    target = Path(out).resolve()
    if any(Path(given).is_file() and target == Path(given).resolve() for given in reads):
        raise ConfigError(f"{what} {out}: that is one of the files this command reads; choose another output")
    if target.name in RUN_FILES and any((target.parent / name).exists() for name in RUN_FILES[:2]):
        raise ConfigError(f"{what} {out}: that is a file of the run directory {target.parent}; choose another output")


def make_folder(folder: Path, what: str = "-o") -> Path:
    """mkdir -p, with a one-line ConfigError when a file stands where a folder must be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise ConfigError(f"{what} {folder}: {blocking} is a file, not a folder") from None
    return folder


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` whole: a reader sees the old text or the new, never half of it."""
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(part, path)
