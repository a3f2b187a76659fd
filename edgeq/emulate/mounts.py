"""Reading /proc/mounts and unmounting, shared by the rootfs build and user mode."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounted_under(root: Path) -> list[str]:
    """Mount points at or below `root`, in mount order (unmount in reverse)."""
    prefix = str(root).rstrip("/")
    found = []
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 2:
                continue
            target = _unescape(fields[1])
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


def unmount(target: str) -> str | None:
    """Unmount one mount point; returns a note when only a lazy unmount worked."""
    done = subprocess.run(["umount", target], capture_output=True, text=True)
    if done.returncode == 0:
        return None
    if target not in mounted_under(Path(target)):
        return None
    lazy = subprocess.run(["umount", "--lazy", target], capture_output=True, text=True)
    if lazy.returncode == 0:
        return f"{target} was busy ({done.stderr.strip()}); detached it lazily"
    return f"cannot unmount {target}: {lazy.stderr.strip() or done.stderr.strip()}"


def unmount_all_under(root: Path) -> list[str]:
    """Unmount everything below `root`, deepest and newest first; returns notes."""
    notes = []
    for _ in range(3):  # a stacked mount (two on one point) needs a second pass
        targets = mounted_under(root)
        if not targets:
            break
        for target in reversed(targets):
            note = unmount(target)
            if note:
                notes.append(note)
    return notes
