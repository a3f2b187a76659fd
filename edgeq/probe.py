"""Asking a board what it is: the agent's `facts`, run with the board's own python."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from .boards import load_board
from .deploy import board_python, ensure_agent
from .errors import BoardError
from .transport import connect


def facts(board: str = "local", accept_new_host_key: bool = False) -> dict[str, Any]:
    """Show what a board is and has: CPU, runtimes, ArmNN backends, GPU libraries."""
    record = load_board(board)
    transport = connect(record, accept_new_host_key=accept_new_host_key)
    try:
        work = PurePosixPath(transport.expand(record.work_dir))
        agent = ensure_agent(transport, work)
        argv = [board_python(record), str(agent), "facts"]
        for directory in record.libraries.library_path if record.libraries else []:
            argv += ["--library-dir", directory]
        done = transport.run(argv, timeout=120)
    finally:
        transport.close()
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BoardError(f"facts failed on board {record.name} (exit {done.returncode}): {tail}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise BoardError(f"facts on board {record.name} printed something that is not JSON") from None
