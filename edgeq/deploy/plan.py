"""`edgeq deploy`: send a bundle to a board, content-addressed, under a lock, switched atomically.

The host decides and sends; the agent on the board (agent/deploy.py) keeps the
store, the lock and the `current` switch. Only files the board lacks are sent,
so a re-deploy with nothing changed sends 0 bytes.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from edgeq.agent.wire import Layout
from edgeq.link.agentcall import STDLIB_ONLY, call_agent
from edgeq.boards.catalog import load_board
from edgeq.bundle.build import Bundle, build_bundle
from edgeq.boards.schema import Board
from edgeq.errors import DeployError
from edgeq.model.reader import ModelInfo, inspect_model
from edgeq.link.probe import board_python, quick_facts
from edgeq.link.transport import Progress, Transport, connect

STALE_LOCK_S = 30 * 60
_ACTIVE_TOKENS: set[str] = set()  # deploys running in this process


@dataclass
class Deployment:
    board: str
    work: PurePosixPath
    agent: str
    python: str
    deployment: str
    previous: str | None
    files_sent: int
    bytes_sent: int
    files_unchanged: int
    seconds: float
    models: dict[str, str]  # model sha256 -> path on the board
    notes: list[str]
    native_dir: str | None = None  # deployments/<id>/native on the board, when natives were sent
    started: dict[str, Any] | None = None  # the agent's answer to `then`, when apply_deploy was given one


def _holder() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


def _is_stale(held: dict[str, Any]) -> bool:
    """A lock whose deploy cannot still be running: old, or left by a dead process of this host."""
    since = held.get("since") or 0
    if time.time() - since > STALE_LOCK_S:
        return True
    holder = str(held.get("holder", ""))
    host_and_pid = holder.split("@", 1)[-1].split(" pid ")
    if len(host_and_pid) != 2 or host_and_pid[0] != socket.gethostname():
        return False
    pid = int(host_and_pid[1]) if host_and_pid[1].isdigit() else -1
    if pid == os.getpid():
        return held.get("token") not in _ACTIVE_TOKENS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lock_message(board: str, held: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(held.get("since") or 0))
    return f"board {board} is being deployed by {held.get('holder')} since {since}; try again when it finishes"


def _free_space_check(board: str, work: PurePosixPath, answer: dict[str, Any], bundle: Bundle) -> None:
    missing = set(answer["missing"])
    needed = sum(f.size for f in bundle.files if f.sha256 in missing)
    if not answer["have_deployment"]:
        needed += 3 * sum(f.size for f in bundle.files if f.kind == "wheel")  # the venv the wheels unpack into
    needed += 1 << 20
    if answer["free_bytes"] < needed:
        raise DeployError(f"board {board} has {answer['free_bytes'] / 2**20:.1f} MB free in {work}; "
                          f"this deploy needs about {needed / 2**20:.1f} MB")


def _send_and_commit(transport: Transport, record: Board, work: PurePosixPath, agent: str, plan: dict[str, Any],
                     answer: dict[str, Any], bundle: Bundle, progress: Progress | None) -> dict[str, Any]:
    _free_space_check(record.name, work, answer, bundle)
    missing = set(answer["missing"])
    for entry in bundle.files:
        if entry.sha256 in missing:
            transport.put(entry.local, Layout(str(work)).stored(entry.sha256), progress)
            missing.discard(entry.sha256)
    commit = dict(plan, uploaded=answer["missing"])
    return call_agent(transport, plan["python"], agent, ["deploy", "commit", str(work), json.dumps(commit)],
                      record.name, timeout=1800, failure=DeployError, flags=STDLIB_ONLY)


@dataclass
class Planned:
    """A deploy decided on the host and not yet sent: what profile needs to know before it runs."""

    record: Board
    work: PurePosixPath
    agent: str
    python: str  # the board's system python: it runs the deploy steps
    bundle: Bundle
    clock: float  # perf_counter when the deploy began

    @property
    def deployed_python(self) -> str:
        """The python jobs run with: the deployment's venv when the bundle brings wheels."""
        if self.bundle.requirements:
            return Layout(str(self.work)).venv_python(self.bundle.deployment)
        return self.python

    @property
    def native_dir(self) -> str | None:
        """deployments/<id>/native on the board, when natives are sent."""
        if any(f.kind == "native" for f in self.bundle.files):
            return Layout(str(self.work)).native(self.bundle.deployment)
        return None


def plan_deploy(record: Board, transport: Transport, models: Sequence[ModelInfo] = (),
                native: Path | None = None) -> Planned:
    """Ask the board what it is (cached facts) and build the bundle for it; nothing is sent but the agent."""
    clock = time.perf_counter()
    work, agent, facts = quick_facts(record, transport)
    python = board_python(record)
    return Planned(record, work, agent, python, build_bundle(record, facts, list(models), python, native), clock)


def apply_deploy(planned: Planned, transport: Transport, progress: Progress | None = None,
                 then: dict[str, Any] | None = None) -> Deployment:
    """Send what the board lacks and switch to it, under the board's lock.

    `then` (a profile's job, see agent/cli.py) is started by the same agent call that finds
    nothing missing: a profile of a deployed board then costs one process on the board, not two.
    """
    record, work, agent, python, bundle = planned.record, planned.work, planned.agent, planned.python, planned.bundle
    sent_before = transport.bytes_sent
    token = uuid.uuid4().hex
    plan: dict[str, Any] = {"holder": _holder(), "token": token, "takeover": None,
                            "deployment": bundle.deployment, "files": [f.record() for f in bundle.files],
                            "python": python, "requirements": bundle.requirements, "manifest": bundle.manifest()}
    if then is not None:
        plan["then"] = then
    _ACTIVE_TOKENS.add(token)
    try:
        answer = call_agent(transport, python, agent, ["deploy", "begin", str(work), json.dumps(plan)], record.name,
                            failure=DeployError, flags=STDLIB_ONLY)
        if answer["locked"] and _is_stale(answer["locked"]):
            plan["takeover"] = answer["locked"].get("token")
            answer = call_agent(transport, python, agent, ["deploy", "begin", str(work), json.dumps(plan)],
                                record.name, failure=DeployError, flags=STDLIB_ONLY)
        if answer["locked"]:
            raise DeployError(_lock_message(record.name, answer["locked"]))
        try:
            done = answer.get("committed") or _send_and_commit(transport, record, work, agent, plan, answer,
                                                               bundle, progress)
        except DeployError:
            call_agent(transport, python, agent, ["deploy", "release", str(work), json.dumps(plan)], record.name,
                       flags=STDLIB_ONLY)
            raise
    finally:
        _ACTIVE_TOKENS.discard(token)
    models = [f for f in bundle.files if f.kind == "model"]
    return Deployment(
        board=record.name, work=work, agent=agent, python=planned.deployed_python, deployment=bundle.deployment,
        previous=done.get("previous"), files_sent=len(answer["missing"]),
        bytes_sent=transport.bytes_sent - sent_before, files_unchanged=len(bundle.files) - len(answer["missing"]),
        seconds=time.perf_counter() - planned.clock,
        models={m.sha256: Layout(str(work)).model(m.name) for m in models}, notes=bundle.notes,
        native_dir=planned.native_dir, started=answer.get("started"),
    )


def deploy_to(record: Board, transport: Transport, models: Sequence[ModelInfo] = (),
              progress: Progress | None = None, native: Path | None = None) -> Deployment:
    """Deploy over an open transport."""
    return apply_deploy(plan_deploy(record, transport, models, native), transport, progress)


def deploy(board: str = "local", models: Sequence[Path] = (), accept_new_host_key: bool = False,
           progress: Progress | None = None, native: Path | None = None) -> Deployment:
    """Send what a board needs (runtimes as offline wheels, the agent, models) and switch to it."""
    record = load_board(board)
    infos = [inspect_model(m) for m in models]
    transport = connect(record, accept_new_host_key=accept_new_host_key)
    try:
        return deploy_to(record, transport, infos, progress, native)
    finally:
        transport.close()
