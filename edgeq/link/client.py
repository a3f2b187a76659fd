"""The host's side of the agent: one method per agent command, over an open transport.

No other module writes an agent command line or reads the agent's files on a
board: deploy and profile ask this client, and tests replace it at this seam
(edgeq/testing/fakeagent.py). Answers are the agent's one-line JSON; its
refusals become BackendError (a bad job, wire.EXIT_BAD_JOB) or the caller's
failure type (anything else).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgeq.agent.wire import EXIT_BAD_JOB, Phase, RunFiles
from edgeq.errors import BackendError, BoardError, DeployError, EdgeqError
from edgeq.link.transport import Transport

STDLIB_ONLY = ("-S",)
"""Python flags for agent steps that need nothing beyond the standard library (the deploy steps):
no site-packages to scan at start, and no broken .pth on the board can break a deploy."""


@dataclass(frozen=True)
class Poll:
    """What one look at a detached run found; `phase` and `alive` are None when not looked at."""

    done: bool
    phase: Phase | None = None
    alive: bool | None = None


@dataclass(frozen=True)
class Start:
    """A detached profile to start: its job on the board, the deployment's python, and the warm
    agent to hand it to (`idle_s` 0: start it cold)."""

    job: str
    python: str
    warm_dir: str
    idle_s: float

    def then(self) -> dict[str, Any]:
        """As a deploy begin's `then` (agent/cli.py): started in the same call when nothing is missing."""
        return {"job": self.job, "python": self.python, "warm": self.warm_dir, "idle_s": self.idle_s}


class AgentClient:
    """The agent at `agent` on one board, run by the board's system `python` unless told otherwise."""

    def __init__(self, transport: Transport, board: str, python: str, agent: str) -> None:
        self.transport = transport
        self.board = board
        self.python = python
        self.agent = agent
        self._offered: Start | None = None
        self._taken: dict[str, Any] | None = None

    def _call(self, argv: Sequence[str], *, python: str | None = None, timeout: float | None = 120,
              failure: type[EdgeqError] = BoardError, flags: Sequence[str] = ()) -> dict[str, Any]:
        done = self.transport.run([python or self.python, *flags, self.agent, *argv], timeout=timeout)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        try:
            answer = json.loads(lines[-1]) if lines else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "error" in answer:
            kind = BackendError if done.returncode == EXIT_BAD_JOB else failure
            raise kind(f"board {self.board}: {answer['error']}")
        if done.returncode != 0 or not isinstance(answer, dict):
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise failure(f"the agent on board {self.board} failed (exit {done.returncode}): {tail}")
        return answer

    # --- facts -------------------------------------------------------------------------------
    def facts(self, quick: bool = False, library_dirs: Sequence[str] = ()) -> dict[str, Any]:
        """What the board is and has; `quick` skips the slow probes (pyarmnn, GPU libraries)."""
        argv = ["facts", "--quick"] if quick else ["facts"]
        for directory in library_dirs:
            argv += ["--library-dir", directory]
        return self._call(argv)

    # --- deploy ------------------------------------------------------------------------------
    def deploy_begin(self, work: str, plan: dict[str, Any]) -> dict[str, Any]:
        """Take the board's deploy lock and learn what it lacks; commits at once when nothing is.
        A start offered with offer_start() rides along and is started by this same call then."""
        if self._offered is not None:
            plan = dict(plan, then=self._offered.then())
        answer = self._call(["deploy", "begin", work, json.dumps(plan)], failure=DeployError, flags=STDLIB_ONLY)
        started = answer.pop("started", None)
        if isinstance(started, dict) and "started" in started:
            self._taken, self._offered = started, None
        return answer

    def deploy_commit(self, work: str, plan: dict[str, Any]) -> dict[str, Any]:
        """Verify what was sent, switch `current`, release the lock (may build a venv: slow)."""
        return self._call(["deploy", "commit", work, json.dumps(plan)], timeout=1800, failure=DeployError,
                          flags=STDLIB_ONLY)

    def deploy_release(self, work: str, plan: dict[str, Any]) -> dict[str, Any]:
        return self._call(["deploy", "release", work, json.dumps(plan)], flags=STDLIB_ONLY)

    # --- profile -----------------------------------------------------------------------------
    def offer_start(self, start: Start) -> None:
        """Let the next deploy_begin start this profile if it finds nothing missing: a profile of a
        deployed board then costs one process on the board, not two. See started_with_deploy()."""
        self._offered, self._taken = start, None

    def started_with_deploy(self) -> dict[str, Any] | None:
        """The start answer of an offered profile that a deploy started, once; else None."""
        taken, self._taken, self._offered = self._taken, None, None
        return taken

    def start_profile(self, start: Start) -> dict[str, Any]:
        """Start a job detached: {"started": pid, "result": path, "warm": how}."""
        flags = ["--warm", start.warm_dir, "--warm-idle", f"{start.idle_s:g}", "--warm-python", start.python] \
            if start.idle_s > 0 else []
        return self._call(["profile", "--detach", *flags, start.job], python=start.python)

    def poll(self, run: str, pid: int, phase: bool = False, alive: bool = False) -> Poll:
        """Look at a detached run by reading its files (SFTP on an SSH board): no process on the board.
        Always whether its result exists; its phase and whether `pid` lives only when asked."""
        if self.transport.exists(f"{run}/{RunFiles.RESULT}"):
            return Poll(True)
        seen = None
        if phase:
            seen = Phase.parse((self.transport.read(f"{run}/{RunFiles.PHASE}") or b"").decode("utf-8", "replace"))
        lives = None
        if alive:
            lives = self.alive(pid) or self.transport.exists(f"{run}/{RunFiles.RESULT}")
        return Poll(False, seen, lives)

    def alive(self, pid: int) -> bool:
        """Does `pid` run on the board? Read from /proc (no process started); a zombie, which a
        board's init may leave unreaped for a while, has ended."""
        stat = self.transport.read(f"/proc/{int(pid)}/stat")
        return bool(stat) and stat.rsplit(b")", 1)[-1].split()[:1] != [b"Z"]

    def stop_run(self, pid: int, grace_s: float) -> bool:
        """Stop a detached run's whole process group (the job and its backend children): TERM and
        CONT (a stopped process acts on TERM only once continued), then KILL after `grace_s`.
        True when the group is gone."""
        self._signal_group(pid, "SIGTERM")
        self._signal_group(pid, "SIGCONT")
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.alive(pid):
            time.sleep(0.1)
        self._signal_group(pid, "SIGKILL")
        return not self._signal_group(pid, "0")

    def _signal_group(self, pid: int, signal: str) -> bool:
        """killpg by the board's python: a shell's kill builtin (dash) cannot name a process group.
        True when the group exists (the signal was delivered)."""
        code = ("import os, signal, sys\n"
                "name = sys.argv[2]\n"
                "try:\n    os.killpg(int(sys.argv[1]), 0 if name == '0' else getattr(signal, name))\n"
                "except ProcessLookupError:\n    sys.exit(1)")
        return self.transport.run([self.python, "-S", "-c", code, str(int(pid)), signal], timeout=30).returncode == 0

    def log_tail(self, run: str) -> str:
        """The last line of a run's agent log (a full disk's OSError, a traceback's last line), or ""."""
        data = self.transport.read(f"{run}/{RunFiles.LOG}") or b""
        lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""

    def pull_leftovers(self, run: str, local: Path) -> list[str]:
        """What a stopped run left that helps to see why (its agent log, phase, backend logs); best effort."""
        kept = []
        for name in (RunFiles.LOG, RunFiles.PHASE):
            data = self.transport.read(f"{run}/{name}")
            if data is not None:
                (local / name.replace("/", "-")).write_bytes(data)
                kept.append(name)
        return kept

    def pull(self, run: str, local: Path) -> dict[str, Any]:
        """Bring a finished run's result, telemetry samples, outputs and logs into `local`."""
        get = self.transport.get
        get(f"{run}/{RunFiles.RESULT}", local / RunFiles.RESULT)
        result = json.loads((local / RunFiles.RESULT).read_text())
        for sub in (RunFiles.OUTPUTS, RunFiles.LOGS):
            (local / sub).mkdir(exist_ok=True)
        samples = (result.get("telemetry") or {}).get("file")
        if samples:
            get(f"{run}/{samples}", local / samples)
        for backend in result["backends"]:
            if backend.get("outputs"):
                name = backend["outputs"]
                get(f"{run}/{RunFiles.OUTPUTS}/{name}", local / RunFiles.OUTPUTS / name)
            if backend.get("log"):
                get(f"{run}/{backend['log']}", local / backend["log"])
        return result

    def remove_run(self, run: str) -> None:
        """Best effort: a lost connection leaves the folder, which holds only the job and its inputs.
        A job that started after all (interrupted while its start was answered) is stopped first."""
        try:
            pid = (self.transport.read(f"{run}/{RunFiles.PID}") or b"").strip()
            if pid.isdigit():
                self.stop_run(int(pid), 1.0)
            self.transport.run(["rm", "-rf", "--", run], timeout=10)
        except Exception:  # noqa: BLE001 - the error being raised already says what went wrong
            pass


def open_client(transport: Transport, board: str, python: str, agent: str) -> AgentClient:
    """The client of the agent at `agent`: the one place clients are made, so that a test can put
    a fake agent here (edgeq.testing.fakeagent.FakeAgent.install)."""
    return AgentClient(transport, board, python, agent)
