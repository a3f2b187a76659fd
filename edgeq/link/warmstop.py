"""Stopping a board's warm agents (agent/warm.py) on request: `edgeq boards stop-agents`.

A warm agent outlives the profile that started it by design, for EDGEQ_WARM_AGENT_S
seconds of idleness. A user who wants the board quiet now (before measuring something
else on it, or before unplugging) asks for this. Each agent writes `<key>.pid` ("PID
warm-serve") beside its socket in `work_dir/warm/`; a pid is signalled only while its
command line still says warm-serve, so a recycled pid is never hit.
"""

from __future__ import annotations

import posixpath

from edgeq.boards.schema import Board
from edgeq.errors import BoardError
from edgeq.link.transport import connect

__all__ = ["stop_agents"]

_STOP = (
    'for f in "$1"/*.pid; do [ -f "$f" ] || continue; read -r pid rest < "$f" || continue; '
    'case "$pid" in ""|*[!0-9]*) continue;; esac; '
    'if tr "\\000" " " < "/proc/$pid/cmdline" 2>/dev/null | grep -q warm-serve; then '
    'kill -TERM "$pid" 2>/dev/null && echo "$pid"; fi; done'
)


def stop_agents(board: Board, accept_new_host_key: bool = False) -> list[int]:
    """SIGTERM every warm agent of `board` (all its deployments); returns the pids stopped."""
    transport = connect(board, accept_new_host_key=accept_new_host_key)
    try:
        warm = transport.expand(posixpath.join(board.work_dir, "warm"))
        done = transport.run(["sh", "-c", _STOP, "sh", warm], timeout=30)
    finally:
        transport.close()
    if done.returncode != 0:
        raise BoardError(f"board {board.name}: stopping warm agents failed: {done.stderr.strip()[:200]}")
    return [int(line) for line in done.stdout.split() if line.isdigit()]
