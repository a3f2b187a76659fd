"""Asking a board what it is: the agent's `facts`, run with the board's own system python.

The agent is sent first when the board lacks this version of it (its file name
carries its hash), so probing works on a board edgeq has never seen.
"""

from __future__ import annotations

import sys
import time
from pathlib import PurePosixPath
from typing import Any

from edgeq.agent.wire import Layout
from edgeq.boards.catalog import load_board
from edgeq.boards.schema import Board
from edgeq.link.agentpack import build_agent
from edgeq.link import client as agent_client
from edgeq.link.client import AgentClient
from edgeq.link.transport import Transport, connect


def board_python(board: Board) -> str:
    """The board's system interpreter; the local board defaults to edgeq's own."""
    return board.python or (sys.executable if board.connection.kind == "local" else "python3")


def ensure_agent(transport: Transport, work: PurePosixPath) -> PurePosixPath:
    """The agent zipapp, named by its hash, sent only when the board lacks that version."""
    agent = build_agent()
    remote = Layout(str(work)).agent(agent.name)
    if not transport.exists(remote):
        transport.put(agent, remote)
    return PurePosixPath(remote)


def open_agent(record: Board, transport: Transport) -> tuple[PurePosixPath, AgentClient]:
    """(the board's work dir, a client of its agent), sending the agent when the board lacks it."""
    work = PurePosixPath(transport.expand(record.work_dir))
    agent = str(ensure_agent(transport, work))
    return work, agent_client.open_client(transport, record.name, board_python(record), agent)


FACTS_TTL_S = 300.0
_facts_cache: dict[tuple[str, str, str, str], tuple[float, dict[str, Any]]] = {}


def quick_facts(record: Board, transport: Transport) -> tuple[PurePosixPath, AgentClient, dict[str, Any]]:
    """(work dir, agent client, facts) without the slow probes: what bundling needs.

    Kept for a few minutes per board in this process: a fleet or a recipe deploys to
    the same board many times, and starting Python on an emulated board costs seconds.
    The facts are those of the board's system python, which edgeq's deploys never change.
    """
    work, client = open_agent(record, transport)
    # The board is where the record points, not its name: one name may be re-pointed in one process
    # (a recipe's own boards folder, a leased labgrid place, a test's record of either emulated board).
    key = (record.name, record.connection.model_dump_json(), client.python, client.agent)
    cached = _facts_cache.get(key)
    if cached and time.monotonic() - cached[0] < FACTS_TTL_S:
        return work, client, cached[1]
    found = client.facts(quick=True)
    _facts_cache[key] = (time.monotonic(), found)
    return work, client, found


def os_disagreement(record: Board, found: dict[str, Any]) -> str | None:
    """A warning when the board runs another OS generation than its record assumes.

    What the board reports wins: wheels, runtimes and compatibility rules all follow the
    facts; the record's `os` only says what the author expected (and what an emulated
    board is built from)."""
    reported = found.get("os") or {}
    if record.os is None or not reported.get("codename"):
        return None
    if reported["codename"] == record.os.codename:
        return None
    return (f"board {record.name}: the record assumes {record.os.name} {record.os.debian} ({record.os.codename}) "
            f"but the board runs {reported.get('pretty') or reported['codename']}; edgeq uses what the board "
            f"reports (update os: in {record.source})")


def facts(board: str = "local", accept_new_host_key: bool = False) -> dict[str, Any]:
    """Show what a board is and has: CPU, runtimes, ArmNN backends, GPU libraries."""
    record = load_board(board)
    with connect(record, accept_new_host_key=accept_new_host_key) as transport:
        found = open_agent(record, transport)[1].facts(library_dirs=record.libraries.library_path)
    warning = os_disagreement(record, found)
    if warning:
        found["warnings"] = [*found.get("warnings", []), warning]
    return found
