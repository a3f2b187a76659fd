"""A strict fake agent at the agent-client seam, for odd board behaviour that real processes make
slow or unreliable to reach: an agent dying mid-run, a deadline passing, a deploy lock taken
over, a pull cut short.

Like fabric's MockContext it answers only what it was told to expect, in order, and raises
UnexpectedCall on anything else, so a test also proves which agent commands the host sent.
Everything around it stays real: the transport (the local board's files), the host's deploy
and profile code, the run folders.

    agent = FakeAgent().expect("facts", quick_facts()).expect("deploy_begin", committed(...))
    agent.install(monkeypatch)   # every AgentClient edgeq opens from now on is this one
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any, Callable

from edgeq.agent.wire import RESULT, RunFiles
from edgeq.link.client import Poll, Start

__all__ = ["FakeAgent", "UnexpectedCall", "committed", "result_pull"]

COMMANDS = ("facts", "deploy_begin", "deploy_commit", "deploy_release", "start_profile", "poll", "alive",
            "stop_run", "log_tail", "pull", "pull_leftovers", "remove_run")


class UnexpectedCall(AssertionError):
    """The host sent an agent command the test did not expect (or sent it with the wrong arguments)."""


Answer = Any  # a value to return, an exception to raise, or a callable of the call's arguments


class FakeAgent:
    def __init__(self, board: str = "fake", python: str = "python3", agent: str = "/fake/agent.pyz") -> None:
        self.board, self.python, self.agent = board, python, agent
        self.transport: Any = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._expected: deque[tuple[str, Answer, Callable[..., bool] | None, bool]] = deque()
        self._offered: Start | None = None
        self._taken: dict[str, Any] | None = None

    # --- the script -------------------------------------------------------------------------
    def expect(self, command: str, answer: Answer = None, when: Callable[..., bool] | None = None,
               repeat: bool = False) -> "FakeAgent":
        """Expect `command` next; `when(*args)` must hold for its arguments; `repeat`: until another
        expectation matches instead (for polls)."""
        if command not in COMMANDS:
            raise ValueError(f"{command!r} is not an agent command. Choose from: {', '.join(COMMANDS)}")
        self._expected.append((command, answer, when, repeat))
        return self

    def done(self) -> None:
        """Every expected call was made (a repeating one may be left)."""
        left = [c for c, _, _, repeat in self._expected if not repeat]
        if left:
            raise UnexpectedCall(f"the host never sent: {', '.join(left)}")

    def install(self, monkeypatch: Any) -> "FakeAgent":
        """Make every agent client edgeq opens this fake (it keeps the real transport it is given)."""
        def open_client(transport: Any, board: str, python: str, agent: str) -> FakeAgent:
            self.transport, self.board, self.python, self.agent = transport, board, python, agent
            return self

        monkeypatch.setattr("edgeq.link.client.open_client", open_client)
        return self

    def _call(self, command: str, *args: Any) -> Any:
        self.calls.append((command, args))
        while self._expected:
            name, answer, when, repeat = self._expected[0]
            if name == command and (when is None or when(*args)):
                if not repeat:
                    self._expected.popleft()
                if isinstance(answer, BaseException):
                    raise answer
                return answer(*args) if callable(answer) else answer
            if repeat:  # a repeating expectation ends when the host moves on
                self._expected.popleft()
                continue
            raise UnexpectedCall(f"expected {name}, the host sent {command}{args!r}")
        raise UnexpectedCall(f"nothing more was expected, the host sent {command}{args!r}")

    # --- AgentClient's interface ------------------------------------------------------------
    def facts(self, quick: bool = False, library_dirs: Any = ()) -> dict[str, Any]:
        return self._call("facts", quick, tuple(library_dirs))

    def deploy_begin(self, work: str, plan: dict[str, Any]) -> dict[str, Any]:
        if self._offered is not None:
            plan = dict(plan, then=self._offered.then())
        answer = dict(self._call("deploy_begin", work, plan))
        started = answer.pop("started", None)
        if isinstance(started, dict) and "started" in started:
            self._taken, self._offered = started, None
        return answer

    def deploy_commit(self, work: str, plan: dict[str, Any]) -> dict[str, Any]:
        return self._call("deploy_commit", work, plan)

    def deploy_release(self, work: str, plan: dict[str, Any]) -> dict[str, Any]:
        return self._call("deploy_release", work, plan)

    def offer_start(self, start: Start) -> None:
        self._offered, self._taken = start, None

    def started_with_deploy(self) -> dict[str, Any] | None:
        taken, self._taken, self._offered = self._taken, None, None
        return taken

    def start_profile(self, start: Start) -> dict[str, Any]:
        return self._call("start_profile", start)

    def poll(self, run: str, pid: int, phase: bool = False, alive: bool = False) -> Poll:
        answer = self._call("poll", run, pid, phase, alive)
        if isinstance(answer, Poll) and not phase:
            answer = Poll(answer.done, None, answer.alive)
        if isinstance(answer, Poll) and not alive:
            answer = Poll(answer.done, answer.phase, None)
        return answer

    def alive(self, pid: int) -> bool:
        return self._call("alive", pid)

    def stop_run(self, pid: int, grace_s: float) -> bool:
        return self._call("stop_run", pid, grace_s)

    def log_tail(self, run: str) -> str:
        return self._call("log_tail", run)

    def pull(self, run: str, local: Path) -> dict[str, Any]:
        return self._call("pull", run, local)

    def pull_leftovers(self, run: str, local: Path) -> list[str]:
        return self._call("pull_leftovers", run, local)

    def remove_run(self, run: str) -> None:
        self._call("remove_run", run)


def committed(deployment: str = "d0") -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """A deploy begin's answer when the board lacks nothing: committed in the same call."""
    def answer(work: str, plan: dict[str, Any]) -> dict[str, Any]:
        return {"locked": None, "missing": [], "free_bytes": 1 << 40, "current": plan["deployment"],
                "have_deployment": True, "committed": {"deployment": plan["deployment"], "previous": None}}

    return answer


def result_pull(backends: list[dict[str, Any]], fail_after: int | None = None,
                error: BaseException | None = None) -> Callable[[str, Path], dict[str, Any]]:
    """A pull that writes a result with `backends` into the run folder, as the real one would;
    with `fail_after`, it writes that many files and then raises `error` (a connection lost mid-pull)."""
    result = {"schema": RESULT.tag, "agent_version": "fake", "facts": {}, "backends": backends,
              "settings": {"threads": 1}, "telemetry": None}

    def pull(run: str, local: Path) -> dict[str, Any]:
        files = [(local / RunFiles.RESULT, json.dumps(result))]
        files += [(local / RunFiles.LOGS / f"{i:02d}.log", "log\n") for i, _ in enumerate(backends)]
        for n, (path, text) in enumerate(files):
            if fail_after is not None and n >= fail_after:
                raise error or ConnectionError("cut")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return json.loads(json.dumps(result))

    return pull
