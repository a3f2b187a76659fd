"""Stopping the warm agents (edgeq/agent/warm.py) that tests leave under their folders.

A warm agent outlives the profile that started it by design; a test suite starts
dozens on boards that stop existing when the test ends. Each writes `<key>.pid`
("PID warm-serve") next to its socket; a pid is signalled only while its command
line still says warm-serve, so a recycled pid is never hit.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["running_warm_agents", "stop_warm_agents"]


def running_warm_agents(root: Path) -> list[int]:
    """Pids of the live warm agents whose pid files lie anywhere below `root`."""
    found = []
    for pid_file in root.rglob("warm/*.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if b"warm-serve" in argv:
            found.append(pid)
    return found


def stop_warm_agents(root: Path) -> list[int]:
    """SIGTERM every live warm agent below `root`; returns the pids signalled."""
    stopped = []
    for pid in running_warm_agents(root):
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
        except ProcessLookupError:
            pass
    return stopped
