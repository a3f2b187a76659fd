"""`edgeq deploy`: send a bundle to a board, content-addressed, under a lock, switched atomically.

The host decides and sends; the agent on the board (agent/deploy.py) keeps the
store, the lock and the `current` switch. Only files the board lacks are sent,
so a re-deploy with nothing changed sends 0 bytes.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from edgeq.agent.wire import Layout
from edgeq.boards.catalog import load_board
from edgeq.bundle.build import Bundle, build_bundle
from edgeq.boards.schema import Board
from edgeq import stopping
from edgeq.errors import DeployError, EdgeqError, TransportError
from edgeq.model.reader import ModelInfo, inspect_model
from edgeq.link.client import AgentClient
from edgeq.link.probe import quick_facts
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


LOCK_WAIT_ENV = "EDGEQ_LOCK_WAIT_S"
LOCK_WAIT_DEFAULT_S = 600.0
LOCK_POLL_S = 1.0


def lock_wait_s() -> float:
    """How long a profile waits for another's deploy of the same board (its lock) before giving up."""
    text = os.environ.get(LOCK_WAIT_ENV, "").strip()
    try:
        value = float(text) if text else LOCK_WAIT_DEFAULT_S
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise DeployError(f"{LOCK_WAIT_ENV}={text!r}: expected seconds >= 0")
    return value


def _holder_text(held: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(held.get("since") or 0))
    return f"{held.get('holder')} since {since}"


def _lock_message(board: str, held: dict[str, Any], waited: float = 0.0) -> str:
    waiting = f" (waited {waited:.0f} s)" if waited else ""
    return (f"board {board} is being deployed by {_holder_text(held)}{waiting}; try again when it finishes, "
            f"or if its holder is gone, run again with --break-lock")


def _take_lock(client: AgentClient, work: str, plan: dict[str, Any], break_lock: bool,
               wait_s: float) -> dict[str, Any]:
    """deploy begin until the lock is ours: a stale lock is taken over, a held one waited for (up to
    `wait_s`, saying so once) or broken (`break_lock`, naming its holder)."""
    answer = client.deploy_begin(work, plan)
    started, told = time.monotonic(), False
    while answer["locked"]:
        held = answer["locked"]
        if _is_stale(held) or break_lock:
            if break_lock and not _is_stale(held):
                print(f"edgeq: board {client.board}: breaking the deploy lock of {_holder_text(held)}",
                      file=sys.stderr)
            plan["takeover"] = held.get("token")
        elif time.monotonic() - started >= wait_s:
            raise DeployError(_lock_message(client.board, held, time.monotonic() - started))
        else:
            if not told:
                print(f"edgeq: board {client.board}: waiting up to {wait_s:g} s for the deploy lock of "
                      f"{_holder_text(held)}", file=sys.stderr)
                told = True
            time.sleep(LOCK_POLL_S)
            stopping.checkpoint()  # a fleet's signal: stop waiting, the lock is not ours
        answer = client.deploy_begin(work, plan)
        break_lock = False  # once: a lock taken again after that is someone else's, and new
    return answer


def _free_space_check(board: str, work: PurePosixPath, answer: dict[str, Any], bundle: Bundle) -> None:
    missing = set(answer["missing"])
    needed = sum(f.size for f in bundle.files if f.sha256 in missing)
    if not answer["have_deployment"]:
        needed += 3 * sum(f.size for f in bundle.files if f.kind == "wheel")  # the venv the wheels unpack into
    needed += 1 << 20
    if answer["free_bytes"] < needed:
        raise DeployError(f"board {board} has {answer['free_bytes'] / 2**20:.1f} MB free in {work}; "
                          f"this deploy needs about {needed / 2**20:.1f} MB")


def _send_and_commit(client: AgentClient, work: PurePosixPath, plan: dict[str, Any],
                     answer: dict[str, Any], bundle: Bundle, progress: Progress | None) -> dict[str, Any]:
    _free_space_check(client.board, work, answer, bundle)
    missing = set(answer["missing"])
    for entry in bundle.files:
        if entry.sha256 in missing:
            stopping.checkpoint()  # a fleet's signal: between whole files; the lock is released, nothing switched
            client.transport.put(entry.local, Layout(str(work)).stored(entry.sha256), progress)
            missing.discard(entry.sha256)
    return client.deploy_commit(str(work), dict(plan, uploaded=answer["missing"]))


@dataclass
class Planned:
    """A deploy decided on the host and not yet sent: what profile needs to know before it runs."""

    record: Board
    work: PurePosixPath
    client: AgentClient  # the board's agent, run by its system python: it runs the deploy steps
    bundle: Bundle
    clock: float  # perf_counter when the deploy began
    facts: dict[str, Any] = field(default_factory=dict)  # the board's quick facts (cpu, python, runtimes)
    break_lock: bool = False  # take the board's deploy lock from its holder (named on stderr)
    lock_wait_s: float = 0.0  # how long to wait for a held lock before giving up

    @property
    def python(self) -> str:
        return self.client.python

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
    work, client, facts = quick_facts(record, transport)
    return Planned(record, work, client, build_bundle(record, facts, list(models), client.python, native), clock,
                   facts)


def apply_deploy(planned: Planned, progress: Progress | None = None) -> Deployment:
    """Send what the board lacks and switch to it, under the board's lock; the deployment, ready."""
    record, work, client, python, bundle = planned.record, planned.work, planned.client, planned.python, planned.bundle
    transport = client.transport
    sent_before = transport.bytes_sent
    token = uuid.uuid4().hex
    plan: dict[str, Any] = {"holder": _holder(), "token": token, "takeover": None,
                            "deployment": bundle.deployment, "files": [f.to_dict() for f in bundle.files],
                            "python": python, "requirements": bundle.requirements, "manifest": bundle.manifest()}
    _ACTIVE_TOKENS.add(token)
    try:
        answer = _take_lock(client, str(work), plan, planned.break_lock, planned.lock_wait_s)
        try:
            done = answer.get("committed") or _send_and_commit(client, work, plan, answer, bundle, progress)
        except BaseException as exc:  # refused, Ctrl-C, a fleet's stop: give the lock back, nothing was switched
            if not isinstance(exc, TransportError):  # a lost connection cannot; the lock goes stale with its pid
                with contextlib.suppress(EdgeqError):
                    client.deploy_release(str(work), plan)
            raise
    finally:
        _ACTIVE_TOKENS.discard(token)
    models = [f for f in bundle.files if f.kind == "model"]
    return Deployment(
        board=record.name, work=work, agent=client.agent, python=planned.deployed_python, deployment=bundle.deployment,
        previous=done.get("previous"), files_sent=len(answer["missing"]),
        bytes_sent=transport.bytes_sent - sent_before, files_unchanged=len(bundle.files) - len(answer["missing"]),
        seconds=time.perf_counter() - planned.clock,
        models={m.sha256: Layout(str(work)).model(m.name) for m in models}, notes=bundle.notes,
        native_dir=planned.native_dir,
    )


def deploy_to(record: Board, transport: Transport, models: Sequence[ModelInfo] = (),
              progress: Progress | None = None, native: Path | None = None, break_lock: bool = False) -> Deployment:
    """Deploy over an open transport."""
    planned = plan_deploy(record, transport, models, native)
    planned.break_lock = break_lock
    return apply_deploy(planned, progress)


def deploy(board: str | Board = "local", models: Sequence[Path] = (), accept_new_host_key: bool = False,
           progress: Progress | None = None, native: Path | None = None, break_lock: bool = False) -> Deployment:
    """Send what a board needs (runtimes as offline wheels, the agent, models) and switch to it."""
    record = board if isinstance(board, Board) else load_board(board)  # a record: a leased labgrid place
    infos = [inspect_model(m) for m in models]
    with connect(record, accept_new_host_key=accept_new_host_key) as transport:
        return deploy_to(record, transport, infos, progress, native, break_lock)
