"""Running one agent command on a board and reading its one-line JSON answer."""

from __future__ import annotations

import json
from typing import Any, Sequence

from edgeq.agent.wire import EXIT_BAD_JOB
from edgeq.errors import BackendError, BoardError, EdgeqError
from edgeq.link.transport import Transport


STDLIB_ONLY = ("-S",)
"""Python flags for agent steps that need nothing beyond the standard library (the deploy steps):
no site-packages to scan at start, and no broken .pth on the board can break a deploy."""


def call_agent(transport: Transport, python: str, agent: str, argv: Sequence[str], board: str,
               timeout: float | None = 120, failure: type[EdgeqError] = BoardError,
               flags: Sequence[str] = ()) -> dict[str, Any]:
    """The agent's answer; its refusals become BackendError (bad job) or `failure` (anything else)."""
    done = transport.run([python, *flags, agent, *argv], timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "error" in answer:
        kind = BackendError if done.returncode == EXIT_BAD_JOB else failure
        raise kind(f"board {board}: {answer['error']}")
    if done.returncode != 0 or not isinstance(answer, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise failure(f"the agent on board {board} failed (exit {done.returncode}): {tail}")
    return answer
